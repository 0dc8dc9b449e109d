"""Synthetic submissions and throw-away nbgrader course directories, for tests, benchmarks and graders.

A *submission* is a notebook a learner could hand in, built from the course's own
notebooks so that it always matches the current assignment:

- :func:`blank_submission` -- the release as downloaded: nothing answered;
- :func:`perfect_submission` -- the release with every answer cell filled in
  from the solution notebook (its ``### BEGIN/END SOLUTION`` marker lines
  removed): what a learner who answered everything correctly hands in;
- :func:`with_answers` -- any submission with some answer cells replaced,
  e.g. by the wrong answers of ``tests/fixtures/<slug>.py``
  (:func:`load_wrong_answers`).

:func:`make_course` lays out a temporary nbgrader course directory (its own
``nbgrader_config.py`` with the repository's settings, its own gradebook, the
source notebooks, the generated release and ``submitted/<student>/<slug>/``),
and :func:`grade_with_nbgrader` runs the real ``nbgrader autograde`` there and
reads the scores back from the gradebook.
"""

from __future__ import annotations

import copy
import datetime
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = [
    "REPO_ROOT",
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "answer_cells",
    "autograded_cells",
    "blank_submission",
    "course_config_text",
    "generate_release",
    "grade_with_nbgrader",
    "load_wrong_answers",
    "make_course",
    "nbgrader_command",
    "perfect_submission",
    "release_path",
    "repo_nbgrader_config",
    "slugs",
    "solution_path",
    "strip_solution_markers",
    "with_answers",
]

#: The repository root, found from this package's location (never from the working directory).
REPO_ROOT = Path(__file__).resolve().parent.parent

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$")

#: The timestamp written next to every synthetic submission (a fixed one: grading is reproducible).
SUBMISSION_TIMESTAMP = "2024-01-01 00:00:00.000000 UTC"


# -- where things are ----------------------------------------------------------------------------


def solution_path(slug: str, root: Path | None = None) -> Path:
    """The nbgrader source notebook of ``slug``: ``solutions/<slug>/<slug>.ipynb``."""
    return Path(root or REPO_ROOT) / "solutions" / slug / f"{slug}.ipynb"


def release_path(slug: str, root: Path | None = None) -> Path:
    """The committed release of ``slug``: ``exercises/<slug>/<slug>.ipynb``."""
    return Path(root or REPO_ROOT) / "exercises" / slug / f"{slug}.ipynb"


def slugs(root: Path | None = None) -> list[str]:
    """Every assignment that has a source notebook ``solutions/<slug>/<slug>.ipynb``, sorted."""
    base = Path(root or REPO_ROOT) / "solutions"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """The answer cells (nbgrader ``solution: true``) of a notebook, by ``grade_id``."""
    return {
        _nbgrader_meta(cell)["grade_id"]: cell
        for cell in nb.cells
        if _nbgrader_meta(cell).get("solution") and _nbgrader_meta(cell).get("grade_id")
    }


def autograded_cells(nb: NotebookNode) -> dict[str, float]:
    """The autograded test cells of a notebook (code cells with ``grade: true`` and no solution): points by id."""
    cells = {}
    for cell in nb.cells:
        meta = _nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cells[meta["grade_id"]] = float(meta.get("points", 0))
    return cells


# -- submissions -----------------------------------------------------------------------------------


def strip_solution_markers(source: str) -> str:
    """A solution cell's source with its ``### BEGIN/END SOLUTION`` lines removed (the answer kept)."""
    return "\n".join(line for line in source.split("\n") if not _MARKER_LINE.match(line))


def _release_notebook(slug: str) -> NotebookNode:
    path = release_path(slug)
    if path.is_file():
        return nbformat.read(path, as_version=4)
    raise FileNotFoundError(
        f"No release for {slug!r} at {path.relative_to(REPO_ROOT)}: run `python -m autograder.release {slug}`."
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
        raise KeyError(f"No answer cell with grade_id {', '.join(unknown)}; answer cells are {sorted(cells)}.")
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


def nbgrader_command(*args: str) -> list[str]:
    """The command line that runs nbgrader with this interpreter (the course's environment)."""
    return [sys.executable, "-m", "nbgrader", *args]


def repo_nbgrader_config():
    """The repository's nbgrader configuration (a traitlets ``Config``), e.g. for ``Validator(config=...)``."""
    return _repo_config()


def _repo_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()


def course_config_text(course_dir: Path) -> str:
    """An ``nbgrader_config.py`` for ``course_dir``: the repository's settings, its own root and gradebook.

    The source notebooks live in ``source/`` and the release goes to ``release/``
    (nbgrader's defaults), so that a course directory looks like nbgrader's own.
    """
    config = _repo_config()
    course_dir = Path(course_dir).resolve()
    lines = [
        '"""A throw-away nbgrader course, laid out by autograder.submissions.make_course."""',
        "",
        "c = get_config()  # noqa: F821",
    ]
    overrides = {
        ("CourseDirectory", "root"): str(course_dir),
        ("CourseDirectory", "source_directory"): "source",
        ("CourseDirectory", "release_directory"): "release",
        ("CourseDirectory", "db_url"): "sqlite:///" + str(course_dir / "gradebook.db"),
    }
    for section in sorted(config):
        for key in sorted(config[section]):
            if (section, key) not in overrides:
                lines.append(f"c.{section}.{key} = {config[section][key]!r}")
    for (section, key), value in overrides.items():
        lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def _environment() -> dict[str, str]:
    """This environment, with the interpreter's own ``bin`` first on PATH (nbgrader runs ``alembic`` from it)."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]), "PYTHONWARNINGS": "ignore"}


def _run_nbgrader(course_dir: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    process = subprocess.run(
        nbgrader_command(*args),
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
    )
    if process.returncode != 0:
        tail = (process.stdout + process.stderr).strip().splitlines()[-30:]
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed in {course_dir}:\n" + "\n".join(tail))
    return process


def generate_release(course_dir: Path, slug: str) -> Path:
    """Run ``nbgrader generate_assignment`` in ``course_dir``; return the release folder of ``slug``."""
    _run_nbgrader(Path(course_dir), "generate_assignment", slug, "--force")
    return Path(course_dir) / "release" / slug


def make_course(
    tmpdir: Path | str,
    slug: str,
    submissions: Mapping[str, NotebookNode] | None = None,
    *,
    release: bool = True,
) -> Path:
    """Lay out a temporary nbgrader course in ``tmpdir`` and return its root.

    - ``nbgrader_config.py``: the repository's settings, with this root and its own gradebook;
    - ``source/<slug>/``: a copy of ``solutions/<slug>/``;
    - ``release/<slug>/``: generated by ``nbgrader generate_assignment`` (which also
      enters the assignment in the gradebook), unless ``release=False``;
    - ``submitted/<student>/<slug>/<slug>.ipynb`` and ``timestamp.txt`` for every
      ``student -> notebook`` in ``submissions``.
    """
    course_dir = Path(tmpdir).resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    (course_dir / "nbgrader_config.py").write_text(course_config_text(course_dir))
    source = course_dir / "source" / slug
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(solution_path(slug).parent, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if release:
        generate_release(course_dir, slug)
    for student, nb in (submissions or {}).items():
        add_submission(course_dir, slug, student, nb)
    return course_dir


def add_submission(course_dir: Path, slug: str, student: str, nb: NotebookNode, timestamp: str | None = None) -> Path:
    """Place ``nb`` as ``student``'s submission of ``slug`` in ``course_dir`` (as ``nbgrader collect`` would)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", student) or student.startswith("."):
        raise ValueError(f"A student id must be letters, digits, '.', '_' or '-', not {student!r}.")
    folder = Path(course_dir) / "submitted" / student / slug
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{slug}.ipynb")
    (folder / "timestamp.txt").write_text((timestamp or SUBMISSION_TIMESTAMP) + "\n")
    return folder


def grade_with_nbgrader(
    course_dir: Path | str, slug: str, *, timeout: float | None = None
) -> dict[str, dict[str, tuple[float, float]]]:
    """Run the real ``nbgrader autograde <slug>`` in ``course_dir`` and read every score from its gradebook.

    Returns ``{student_id: {grade_id: (score, max_score)}}`` for every graded cell
    (manually graded cells score 0 until an instructor grades them).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course_dir = Path(course_dir).resolve()
    _run_nbgrader(course_dir, "autograde", slug, "--force", timeout=timeout)
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


def now_timestamp() -> str:
    """The current time in nbgrader's timestamp format (for real, non-synthetic submissions)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
