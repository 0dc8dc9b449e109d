"""Is a submitted notebook still the assignment? One set of integrity checks for the grader and ``course-check``.

nbgrader finds a notebook's questions by the ``grade_id`` in each cell's metadata and keeps a
checksum of the cells a learner must not change. A learner can still copy a cell (two cells with
one id), delete one, change its type, or damage its metadata (a cell pasted from another notebook
carries an old schema version); nbgrader's own autograde then either grades the wrong thing or,
for damaged metadata, stops the *whole batch* ("use an old version of the nbgrader metadata
format... nbgrader update"). So:

- :func:`cell_problems` lists what is wrong, each :class:`Problem` with a note for the instructor
  and a message for the learner (``course-check`` shows those);
- :class:`ScreenSubmission`, first of ``c.Autograde.sanitize_preprocessors``, refuses a notebook
  whose damage would stop nbgrader, with an ordinary error that names the cause: nbgrader records
  that submission as failed and grades the rest of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat.notebooknode import NotebookNode

__all__ = ["Problem", "ScreenSubmission", "SubmissionDamaged", "cell_problems", "fatal_problems"]


class SubmissionDamaged(RuntimeError):
    """A notebook too damaged to grade: nbgrader records the submission as failed and goes on."""


@dataclass(frozen=True)
class Problem:
    kind: str  # duplicated | deleted | retyped | edited | metadata
    grade_id: str
    note: str  # for the instructor's record
    message: str  # for the learner (course-check)

    @property
    def fatal(self) -> bool:
        """Would stop nbgrader (or make it grade the wrong cell): the submission cannot be graded as is."""
        return self.kind in {"duplicated", "metadata"}


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _title(titles: dict[int, str] | None, index: int) -> str:
    return f" ({titles[index]})" if titles and index in titles else ""


def cell_problems(
    nb: NotebookNode,
    *,
    expected: dict[str, tuple[str, float]] | None = None,
    release: NotebookNode | None = None,
    titles: dict[int, str] | None = None,
) -> list[Problem]:
    """What is wrong with ``nb``'s nbgrader cells.

    ``expected`` is the gradebook's ``{grade_id: (cell_type, points)}`` (the grader knows it);
    ``release`` the released notebook (``course-check`` has it); without either, only what the
    notebook shows by itself is checked (duplicates, metadata, checksums).
    """
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError
    from nbgrader.nbgraderformat.common import SchemaMismatchError
    from nbgrader.utils import compute_checksum

    validator = MetadataValidator()
    found: list[Problem] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = _meta(cell)
        grade_id = str(meta.get("grade_id") or "")
        if "nbgrader" in cell.get("metadata", {}):
            try:
                validator.validate_cell(cell)
            except (SchemaMismatchError, ValidationError, Exception) as error:  # jsonschema errors included
                found.append(
                    Problem(
                        "metadata",
                        grade_id or f"cell {index + 1}",
                        f"cell {index + 1}{' (' + grade_id + ')' if grade_id else ''} has damaged nbgrader metadata "
                        f"({type(error).__name__}: {str(error).splitlines()[0][:120]})",
                        f"Cell {index + 1}{_title(titles, index)} has grading metadata that is damaged or from another "
                        "notebook. Did you paste a cell from elsewhere? Fetch a fresh copy of the exercise and paste "
                        "your answers into it.",
                    )
                )
                continue
        if not grade_id:
            continue
        where = f"`{grade_id}`{_title(titles, index)}"
        if grade_id in seen:
            found.append(
                Problem(
                    "duplicated",
                    grade_id,
                    f"grade cell {grade_id} appears more than once (a copied cell)",
                    f"Two cells carry the id {where}. Did you copy a cell? Keep your answer in the original cell "
                    "and delete the copy.",
                )
            )
            continue
        seen[grade_id] = index
        stored_type = meta.get("cell_type") or (expected or {}).get(grade_id, (None,))[0]
        if stored_type and stored_type != cell.cell_type:
            found.append(
                Problem(
                    "retyped",
                    grade_id,
                    f"grade cell {grade_id} was changed from {stored_type} to {cell.cell_type}",
                    f"The cell {where} was a {stored_type} cell and is now a {cell.cell_type} cell. Change it back "
                    f"(Esc, then {'Y' if stored_type == 'code' else 'M'}).",
                )
            )
            continue
        protected = meta.get("locked") or (meta.get("grade") and not meta.get("solution"))
        if protected and "checksum" in meta:
            try:
                changed = compute_checksum(cell) != meta["checksum"]
            except (KeyError, TypeError, ValueError):
                changed = True
            if changed:
                kind = "test cell" if meta.get("grade") else "read-only cell"
                found.append(
                    Problem(
                        "edited",
                        grade_id,
                        f"{kind} {grade_id} was edited (the grader restores it)",
                        f"The {kind} {where} was edited. The grader restores the original, so edits there do not "
                        "count and may break your answers: undo them, or paste the original back from a fresh copy "
                        "of the exercise.",
                    )
                )
    wanted = dict(expected or {})
    if release is not None:
        for cell in release.cells:
            grade_id = _meta(cell).get("grade_id")
            if grade_id:
                wanted.setdefault(grade_id, (cell.cell_type, 0.0))
    for grade_id in wanted:
        if grade_id not in seen and not any(p.grade_id == grade_id for p in found):
            found.append(
                Problem(
                    "deleted",
                    grade_id,
                    f"grade cell {grade_id} was deleted",
                    f"The cell `{grade_id}` of the exercise is missing: it was deleted, or its nbgrader metadata was "
                    "lost (e.g. by copying its text into a new cell). Fetch a fresh copy of the exercise and paste "
                    "your answers into it.",
                )
            )
    if release is not None:
        here = {_meta(c).get("grade_id"): c for c in nb.cells if _meta(c).get("grade_id")}
        for cell in release.cells:
            meta = _meta(cell)
            grade_id = meta.get("grade_id")
            mine = here.get(grade_id) if grade_id else None
            protected = meta.get("locked") or (meta.get("grade") and not meta.get("solution"))
            if (
                mine is not None
                and protected
                and mine.cell_type == cell.cell_type
                and mine.source != cell.source
                and not any(p.grade_id == grade_id for p in found)
            ):
                found.append(
                    Problem(
                        "edited",
                        grade_id,
                        f"cell {grade_id} differs from the release",
                        f"The cell `{grade_id}` differs from the released exercise. Undo your edits there: the grader "
                        "uses the original.",
                    )
                )
    return found


def fatal_problems(nb: NotebookNode, **kwargs) -> list[Problem]:
    return [p for p in cell_problems(nb, **kwargs) if p.fatal]


from nbgrader.preprocessors import NbGraderPreprocessor  # noqa: E402 - nbgrader is a course requirement


class ScreenSubmission(NbGraderPreprocessor):
    """First of ``c.Autograde.sanitize_preprocessors``: a notebook whose grade cells are duplicated or whose
    nbgrader metadata is damaged fails with :class:`SubmissionDamaged` (its cause in the log), instead of
    nbgrader's batch-stopping ``SchemaTooOldError`` or grading a copied cell."""

    def preprocess(self, nb, resources):
        problems = fatal_problems(nb)
        if problems:
            info = resources.get("nbgrader", {})
            raise SubmissionDamaged(
                f"SubmissionDamaged: {info.get('student', '?')} / {info.get('notebook', '?')} was not graded: "
                + "; ".join(p.note for p in problems)
            )
        return nb, resources
