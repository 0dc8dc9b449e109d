"""The tiny assignment of ``tests/fixtures/tiny-workflow``: its learners' notebooks, and a course folder for it.

The fixture holds nbgrader's two sides of one small assignment: ``solutions/tiny`` (the instructor's
notebook, hidden tests and mark scheme included) and ``exercises/tiny`` (the committed release).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from support.submissions import (
    REPO_ROOT,
    answer_cells,
    nbgrader_env_for,
    strip_solution_markers,
    with_answers,
)

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "tiny-workflow"
SOLUTION = FIXTURE / "solutions" / "tiny" / "tiny.ipynb"
RELEASE = FIXTURE / "exercises" / "tiny" / "tiny.ipynb"


def instructor_answers() -> dict[str, str]:
    """The solution notebook's answers by grade id, their ``### BEGIN/END SOLUTION`` lines removed."""
    solution = nbformat.read(SOLUTION, as_version=4)
    return {
        grade_id: strip_solution_markers(cell.source) for grade_id, cell in answer_cells(solution).items()
    }


def answered(overrides: Mapping[str, str] | None = None) -> NotebookNode:
    """The release answered as the instructor answers it, but for ``overrides`` (``grade_id -> source``)."""
    return with_answers(nbformat.read(RELEASE, as_version=4), {**instructor_answers(), **(overrides or {})})


def tiny_course(root: Path, submissions: Mapping[str, NotebookNode]) -> Path:
    """``root`` laid out as the tiny assignment's course: the repository's ``nbgrader_config.py``, the fixture's
    ``solutions/`` and ``exercises/``, and each ``{student: notebook}`` in ``submitted/``."""
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(FIXTURE / "solutions", root / "solutions")
    shutil.copytree(FIXTURE / "exercises", root / "exercises")
    for student, nb in submissions.items():
        (root / "submitted" / student / "tiny").mkdir(parents=True)
        nbformat.write(nb, root / "submitted" / student / "tiny" / "tiny.ipynb")
    return root


def nbgrader_in(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in the course ``root`` as its instructor (with a home and an exchange inside ``root``);
    the test fails with nbgrader's error output when the command fails."""
    env = nbgrader_env_for(root / "home", COURSE_EXCHANGE=str(root / "exchange"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done
