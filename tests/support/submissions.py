"""Synthetic submissions for the tests and the benchmarks (never imported by the product).

A *submission* is a notebook a learner could hand in, built from the course's own
notebooks so that it always matches the current assignment:

- :func:`blank_submission` -- the release as downloaded: nothing answered;
- :func:`perfect_submission` -- the release with every answer cell filled in
  from the solution notebook (its ``### BEGIN/END SOLUTION`` marker lines
  removed): what a learner who answered everything correctly hands in;
- :func:`with_answers` -- any submission with some answer cells replaced,
  e.g. by the wrong answers of ``tests/fixtures/<slug>.py``
  (:func:`load_wrong_answers`).

:func:`~autograder.authoring.layout.make_course` (re-exported here) lays out a
temporary nbgrader course directory, and :func:`grade_with_nbgrader` runs the real
``nbgrader autograde`` there and reads the scores back from the gradebook.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils

from autograder.authoring.layout import (
    REPO_ROOT,
    SUBMISSION_TIMESTAMP,
    add_submission,
    course_config_text,
    generate_release,
    make_course,
    nbgrader_command,
    release_path,
    repo_nbgrader_config,
    run_nbgrader,
    slugs,
    solution_path,
)
from autograder.grading.config import nbgrader_env
from autograder.grading.protocol import is_test_cell

__all__ = [
    "REPO_ROOT",
    "SOLUTION_BEGIN",
    "SUBMISSION_TIMESTAMP",
    "add_submission",
    "SOLUTION_END",
    "answer_cells",
    "autograded_cells",
    "blank_submission",
    "course_config_text",
    "generate_release",
    "grade_with_nbgrader",
    "grade_submissions",
    "gradebook_totals",
    "load_wrong_answers",
    "make_course",
    "nbgrader_command",
    "nbgrader_env_for",
    "perfect_submission",
    "release_path",
    "repo_nbgrader_config",
    "run_in_course",
    "scores_in",
    "slugs",
    "solution_path",
    "strip_solution_markers",
    "with_answers",
]

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$")


# -- cells ---------------------------------------------------------------------------------------


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """The answer cells (nbgrader ``solution: true``) of a notebook, by ``grade_id``."""
    return {
        cell.metadata.nbgrader.grade_id: cell
        for cell in nb.cells
        if utils.is_solution(cell) and cell.metadata.nbgrader.get("grade_id")
    }


def autograded_cells(nb: NotebookNode) -> dict[str, float]:
    """The autograded test cells of a notebook (code cells with ``grade: true`` and no solution): points by id."""
    return {
        cell.metadata.nbgrader.grade_id: float(cell.metadata.nbgrader.get("points", 0))
        for cell in nb.cells
        if is_test_cell(cell)
    }


# -- submissions -----------------------------------------------------------------------------------


def strip_solution_markers(source: str) -> str:
    """A solution cell's source with its ``### BEGIN/END SOLUTION`` lines removed (the answer kept)."""
    return "\n".join(line for line in source.split("\n") if not _MARKER_LINE.match(line))


def _release_notebook(slug: str) -> NotebookNode:
    path = release_path(slug)
    if path.is_file():
        return nbformat.read(path, as_version=4)
    raise FileNotFoundError(
        f"No release for {slug!r} at {path.relative_to(REPO_ROOT)}: run `python -m autograder.authoring.release {slug}`."
    )


def blank_submission(slug: str) -> NotebookNode:
    """The release notebook as a learner downloads it: every answer still the stub."""
    return _release_notebook(slug)


def perfect_submission(slug: str) -> NotebookNode:
    """The release with every answer cell filled in from the solution notebook (markers stripped)."""
    solution = nbformat.read(solution_path(slug), as_version=4)
    answers = {gid: strip_solution_markers(cell.source) for gid, cell in answer_cells(solution).items()}
    return with_answers(blank_submission(slug), answers)


def with_answers(nb: NotebookNode, answers: Mapping[str, str]) -> NotebookNode:
    """A copy of ``nb`` whose answer cells named in ``answers`` (``grade_id -> source``) get new sources."""
    result = copy.deepcopy(nb)
    cells = answer_cells(result)
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise KeyError(
            f"No answer cell with grade_id {', '.join(unknown)}; answer cells are {sorted(cells)}."
        )
    for grade_id, source in answers.items():
        cells[grade_id].source = source
    return result


def load_wrong_answers(slug: str, root: Path | None = None) -> dict:
    """``WRONG_ANSWERS`` of ``tests/fixtures/<slug>.py`` (``{}`` when that file does not exist)."""
    path = Path(root or REPO_ROOT) / "tests" / "fixtures" / f"{slug}.py"
    if not path.is_file():
        return {}
    wrong = runpy.run_path(str(path)).get("WRONG_ANSWERS")
    if not isinstance(wrong, dict):
        raise ValueError(f"{path.name} must define a dict WRONG_ANSWERS.")
    return wrong


# -- course directories ----------------------------------------------------------------------------


def grade_with_nbgrader(
    course_dir: Path | str, slug: str, *, timeout: float | None = None
) -> dict[str, dict[str, tuple[float, float]]]:
    """Run the real ``nbgrader autograde <slug>`` in ``course_dir`` and read every score from its gradebook.

    Returns ``{student_id: {grade_id: (score, max_score)}}`` for every graded cell
    (manually graded cells score 0 until an instructor grades them).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course_dir = Path(course_dir).resolve()
    run_nbgrader(course_dir, "autograde", slug, "--force", timeout=timeout)
    students = sorted(p.name for p in (course_dir / "submitted").iterdir() if (p / slug).is_dir())
    scores: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook("sqlite:///" + str(course_dir / "gradebook.db")) as gradebook:
        for student in students:
            try:
                notebook = gradebook.find_submission_notebook(slug, slug, student)
            except MissingEntry:
                raise RuntimeError(f"nbgrader did not grade {student}'s {slug}.") from None
            scores[student] = {
                grade.name: (float(grade.score or 0.0), float(grade.max_score)) for grade in notebook.grades
            }
    return scores


def grade_submissions(
    tmpdir: Path | str, slug: str, submissions: Mapping[str, NotebookNode], *, parts: int | None = None
) -> dict[str, dict[str, tuple[float, float]]]:
    """Grade ``submissions`` with the real ``nbgrader autograde``, in ``parts`` courses at once (default: one per
    core, at most two), and return :func:`grade_with_nbgrader`'s scores for all of them.

    Plain ``nbgrader autograde`` grades one submission after another; a class of fixtures split over two
    courses keeps both cores busy. Each course is a whole nbgrader course of its own (``make_course``), so
    the scores are exactly those one run would give.
    """
    parts = max(1, min(parts or min(2, os.cpu_count() or 1), len(submissions)))
    names = sorted(submissions)
    shares = [{name: submissions[name] for name in names[k::parts]} for k in range(parts)]
    courses = [make_course(Path(tmpdir) / f"part-{k + 1}", slug, share) for k, share in enumerate(shares)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=parts) as pool:
        results = list(pool.map(lambda course: grade_with_nbgrader(course, slug), courses))
    return {student: scores for result in results for student, scores in result.items()}


def run_in_course(course_dir: Path | str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m <args>`` with this interpreter in ``course_dir`` and nbgrader's environment, output captured."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nbgrader_env(),
    )


def nbgrader_env_for(home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of an nbgrader command run by someone else (a learner, the instructor of a test's course):
    :func:`~autograder.grading.config.nbgrader_env` without this session's ``JUPYTER*``/``JPY_*`` variables;
    with ``home``, that ``HOME`` and a Jupyter configuration folder of its own (created); plus ``extra``."""
    env = {k: v for k, v in nbgrader_env().items() if not k.startswith(("JUPYTER", "JPY_"))}
    if home is not None:
        (home / ".jupyter").mkdir(parents=True, exist_ok=True)
        env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
    env.update(extra)
    return env


def now_timestamp() -> str:
    """The current time in nbgrader's timestamp format (for real, non-synthetic submissions)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


#: From a gradebook's ``grade`` rows to the notebook and the assignment submission each belongs to.
_GRADE_SUBMISSION_JOINS = (
    "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
    "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
)


def _gradebook_rows(course_dir: Path | str, query: str) -> list[tuple]:
    """The rows of ``query`` on a course's ``gradebook.db``, read straight from the file."""
    import sqlite3

    with sqlite3.connect(Path(course_dir) / "gradebook.db") as db:
        return db.execute(query).fetchall()


def scores_in(course_dir: Path | str) -> dict[str, dict[str, float]]:
    """Every student's score per grade cell, straight from the gradebook file."""
    rows = _gradebook_rows(
        course_dir,
        "SELECT student.id, base_cell.name, grade.auto_score FROM grade "
        + _GRADE_SUBMISSION_JOINS
        + "JOIN student ON submitted_assignment.student_id = student.id "
        "JOIN base_cell ON grade.cell_id = base_cell.id",
    )
    result: dict[str, dict[str, float]] = {}
    for student, cell, score in rows:
        result.setdefault(student, {})[cell] = score
    return result


def gradebook_totals(course_dir: Path | str, *, missing_as_none: bool = True) -> dict[str, float | None]:
    """``{student: total auto score}`` from a course's gradebook; None where no cell got a score (nothing was
    written), or 0 for those with ``missing_as_none=False``."""
    rows = _gradebook_rows(
        course_dir,
        "SELECT submitted_assignment.student_id, SUM(grade.auto_score), COUNT(grade.auto_score) FROM grade "
        + _GRADE_SUBMISSION_JOINS
        + "GROUP BY submitted_assignment.student_id",
    )
    return {
        student: (total if count else (None if missing_as_none else 0.0)) for student, total, count in rows
    }
