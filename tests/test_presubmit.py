"""course-check, the learners' pre-submit check, on real notebooks of the tiny assignment.

The static checks (damaged cells, imports, execution order, unsaved work) run
without a kernel and are fast; the tests that run a notebook in a fresh kernel
are marked slow.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from autograder.grading.presubmit import check_notebook, main

FIXTURE = Path(__file__).parent / "fixtures" / "tiny-workflow"
SOURCE = FIXTURE / "solutions" / "tiny" / "tiny.ipynb"
RELEASE = FIXTURE / "exercises" / "tiny" / "tiny.ipynb"


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _solutions() -> dict[str, str]:
    """The instructor's answers, without nbgrader's solution markers: what a perfect learner writes."""
    answers = {}
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [
                line
                for line in cell.source.splitlines()
                if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line
            ]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def _with_answers(answers: dict[str, str]):
    nb = nbformat.read(RELEASE, as_version=4)
    for cell in nb.cells:
        if _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return nb


def _save(nb, folder: Path, name: str = "tiny.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


def _check(path: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main([str(path), "--release", str(RELEASE), "--timeout", "60", *extra])
    return code, capsys.readouterr().out


def _cell(nb, grade_id: str):
    return next(cell for cell in nb.cells if _grade_id(cell) == grade_id)


# -- static checks: no kernel ------------------------------------------------------------------------
def test_the_release_and_a_perfect_copy_are_undamaged(tmp_path):
    for nb in (nbformat.read(RELEASE, as_version=4), _with_answers(_solutions())):
        report = check_notebook(_save(nb, tmp_path), release=RELEASE, run=False)
        assert report.damaged == []
        assert report.missing_imports == []


def test_an_edited_test_cell_is_damaged(tmp_path):
    nb = _with_answers(_solutions())
    test = _cell(nb, "q1-keyword-check-tests")
    test.source = 'passed("I removed the checks")'
    report = check_notebook(_save(nb, tmp_path), release=RELEASE, run=False)
    assert len(report.damaged) == 1
    assert report.damaged[0].startswith(
        "The test cell `q1-keyword-check-tests` (Question 1: a keyword labeling"
    )
    assert "was edited" in report.damaged[0]


def test_an_edit_with_a_recomputed_checksum_is_caught_against_the_release(tmp_path):
    from nbgrader.utils import compute_checksum

    nb = _with_answers(_solutions())
    test = _cell(nb, "q2-spam-share-tests")
    test.source = 'passed("no checks here")'
    test.metadata.nbgrader["checksum"] = compute_checksum(test)  # a careful forger
    assert check_notebook(_save(nb, tmp_path / "alone"), run=False).damaged == []
    report = check_notebook(_save(nb, tmp_path / "compared"), release=RELEASE, run=False)
    assert report.damaged == [
        "The cell `q2-spam-share-tests` differs from the released exercise. "
        "Undo your edits there: the grader uses the original."
    ]


def test_duplicated_missing_and_retyped_cells_are_damaged(tmp_path):
    nb = _with_answers(_solutions())
    duplicate = copy.deepcopy(_cell(nb, "q1-keyword-check"))  # a copied answer cell
    duplicate.id = "a-copied-cell"
    nb.cells.insert(4, duplicate)
    nb.cells.remove(_cell(nb, "q2-data"))  # a deleted read-only cell
    _cell(nb, "q3-why-abstain").cell_type = "code"  # a written answer turned into code
    retyped = _cell(nb, "q3-why-abstain")
    retyped.outputs, retyped.execution_count = [], None
    report = check_notebook(_save(nb, tmp_path), release=RELEASE, run=False)
    text = "\n".join(report.damaged)
    assert "Two cells carry the id `q1-keyword-check`" in text
    assert "The cell `q2-data` of the exercise is missing" in text
    assert (
        "The cell `q3-why-abstain` (Question 3: in your own words (1 point, graded by hand)) was a "
        "markdown cell and is now a code cell. Change it back (Esc, then M)."
    ) in text


def test_imports_the_grader_lacks_are_listed_and_magics_are_skipped(tmp_path):
    nb = _with_answers(_solutions())
    answer = _cell(nb, "q1-keyword-check")
    answer.source = (
        "%matplotlib inline\nimport numpy as np\nfrom sklearn import metrics\n"
        "import nonexistent_helper_pkg.sub\n" + answer.source
    )
    report = check_notebook(_save(nb, tmp_path), release=RELEASE, run=False)
    assert report.missing_imports == [
        "`nonexistent_helper_pkg` (imported in cell 4, Question 1: a keyword labeling function (2 points)) "
        "is not installed where the grader runs, so that cell will fail there. Use the packages of the "
        "course's requirements.txt, or remove the import."
    ]


def test_out_of_order_execution_is_a_warning(tmp_path):
    nb = _with_answers(_solutions())
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for count, cell in zip([1, 2, 3, 4, 5, 6], code, strict=False):
        cell.execution_count = count
    in_order = check_notebook(_save(nb, tmp_path / "in-order"), release=RELEASE, run=False)
    assert not any("out of order" in w for w in in_order.warnings)
    code[1].execution_count = 9  # the answer cell was re-run after the cells below it
    report = check_notebook(_save(nb, tmp_path / "shuffled"), release=RELEASE, run=False)
    order = [w for w in report.warnings if "out of order" in w]
    assert order == [
        "Your saved outputs were run out of order: cell 5 ran as In [3], before cell 4 above it "
        "(In [9]). The grader runs top to bottom, as this check did; to see what it sees, use "
        "Kernel > Restart Kernel and Run All Cells, then save."
    ]


def test_a_newer_different_checkpoint_warns_of_unsaved_work(tmp_path):
    path = _save(_with_answers(_solutions()), tmp_path)
    checkpoints = tmp_path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    checkpoint = checkpoints / "tiny-checkpoint.ipynb"

    def warnings_with(nb, checkpoint_age: float) -> list[str]:
        nbformat.write(nb, checkpoint)
        now = time.time()
        os.utime(path, (now, now))
        os.utime(checkpoint, (now + checkpoint_age, now + checkpoint_age))
        return [w for w in check_notebook(path, release=RELEASE, run=False).warnings if "newer version" in w]

    blank = nbformat.read(RELEASE, as_version=4)
    assert warnings_with(blank, -60) == []  # autosave wrote the file after the last Ctrl+S: normal
    assert warnings_with(nbformat.read(path, as_version=4), +60) == []  # newer but the same cells
    [warning] = warnings_with(blank, +60)  # newer and different: the file lost saved work
    assert warning.startswith(
        "Jupyter saved a newer version of this notebook (.ipynb_checkpoints/"
        "tiny-checkpoint.ipynb) than the file checked here."
    )


def test_a_file_that_is_not_a_notebook_is_a_usage_error(tmp_path, capsys):
    broken = tmp_path / "tiny.ipynb"
    broken.write_text("this is not JSON")
    assert main([str(broken)]) == 2
    assert "is not a notebook Jupyter can read" in capsys.readouterr().err
    assert main([str(tmp_path / "absent.ipynb")]) == 2


# -- running the notebook in a fresh kernel --------------------------------------------------------
@pytest.mark.slow
def test_the_release_is_not_answered_anywhere(tmp_path, capsys):
    path = tmp_path / "tiny.ipynb"
    shutil.copy(RELEASE, path)
    code, out = _check(path, capsys)
    assert code == 1
    assert "Not answered yet (3):" in out
    for grade_id in ("q1-keyword-check-tests", "q2-spam-share-tests", "q3-why-abstain"):
        assert f"[{grade_id}]" in out
    assert "Visible checks that fail" not in out
    assert "Traceback" not in out


@pytest.mark.slow
def test_a_perfect_submission_passes(tmp_path, capsys):
    code, out = _check(_save(_with_answers(_solutions()), tmp_path), capsys)
    assert code == 0, out
    assert "All 2 visible checks pass." in out


@pytest.mark.slow
def test_a_submission_failing_only_hidden_tests_passes_here(tmp_path, capsys):
    answers = {
        **_solutions(),
        "q1-keyword-check": 'def keyword_check(text):\n    return SPAM if "check" in text else ABSTAIN',
    }
    code, out = _check(_save(_with_answers(answers), tmp_path), capsys)
    assert code == 0, out  # the hidden test would fail it; the learner's copy has no hidden test
    assert "hidden tests" in out


@pytest.mark.slow
def test_a_failing_visible_check_is_listed_with_its_message(tmp_path, capsys):
    answers = {**_solutions(), "q2-spam-share": "spam_share = votes.count(SPAM) / len(votes)"}
    code, out = _check(_save(_with_answers(answers), tmp_path), capsys)
    assert code == 1
    assert (
        "Visible checks that fail (1 of 2):\n"
        "  - Question 2: the spam share among the votes (1 point) [q2-spam-share-tests]\n"
        "    `spam_share` is 0.5. Count only the votes that are not ABSTAIN. "
        "Did you divide by len(votes)?"
    ) in out


@pytest.mark.slow
def test_a_damaged_submission_fails(tmp_path, capsys):
    nb = _with_answers(_solutions())
    _cell(nb, "q1-keyword-check-tests").source = 'passed("all good")'
    code, out = _check(_save(nb, tmp_path), capsys)
    assert code == 1
    assert "Damaged cells (the grader relies on them):" in out
    assert "`q1-keyword-check-tests`" in out


@pytest.mark.slow
def test_an_out_of_order_perfect_submission_passes_with_a_warning(tmp_path, capsys):
    nb = _with_answers(_solutions())
    counts = iter([5, 1, 2, 3, 4, 6])
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = next(counts)
    code, out = _check(_save(nb, tmp_path), capsys)
    assert code == 0, out
    assert "Warnings:\n  - Your saved outputs were run out of order" in out


@pytest.mark.slow
def test_a_submission_importing_a_missing_package_fails(tmp_path, capsys):
    answers = _solutions()
    answers["q1-keyword-check"] = "import nonexistent_helper_pkg\n" + answers["q1-keyword-check"]
    code, out = _check(_save(_with_answers(answers), tmp_path), capsys)
    assert code == 1
    assert "Imports the grader cannot do:\n  - `nonexistent_helper_pkg`" in out
    assert "Cell 4 (Question 1: a keyword labeling function (2 points)) raised ModuleNotFoundError" in out


@pytest.mark.slow
def test_a_cell_over_the_time_limit_is_stopped_as_the_grader_stops_it(tmp_path, capsys):
    answers = {**_solutions(), "q2-spam-share": "import time\ntime.sleep(120)\nspam_share = 0.75"}
    started = time.monotonic()
    code = main([str(_save(_with_answers(answers), tmp_path)), "--release", str(RELEASE), "--timeout", "5"])
    out = capsys.readouterr().out
    assert code == 1
    assert time.monotonic() - started < 100  # stopped at the limit, not after the two minutes
    # like the grader: the cell is interrupted at the limit, the notebook goes on, its question fails
    assert (
        "Cell 8 (Question 2: the spam share among the votes (1 point)) raised CellTimeoutError: the cell "
        "ran longer than 5 s"
    ) in out
    assert "Visible checks that fail (1 of" in out and "[q2-spam-share-tests]" in out


@pytest.mark.slow
def test_the_notebook_runs_in_its_own_folder(tmp_path, capsys):
    (tmp_path / "votes.txt").write_text("1 0 1 -1 1 -1")
    answers = {
        **_solutions(),
        "q2-spam-share": (
            "from pathlib import Path\n"
            "cast = [int(v) for v in Path('votes.txt').read_text().split() if int(v) != ABSTAIN]\n"
            "spam_share = cast.count(SPAM) / len(cast)"
        ),
    }
    code, out = _check(_save(_with_answers(answers), tmp_path), capsys)
    assert code == 0, out


# -- the course's own exercises ---------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
COURSE_RELEASES = sorted((REPO / "exercises").glob("*/*.ipynb"))


@pytest.mark.parametrize("release", COURSE_RELEASES, ids=lambda p: p.stem)
def test_the_course_exercises_and_their_perfect_submissions_are_sound(release, tmp_path):
    """Every released lab passes the static checks, and so does a learner's copy with all answers filled in."""
    from support.submissions import perfect_submission

    assert check_notebook(release, run=False).damaged == []
    assert check_notebook(release, run=False).missing_imports == []
    perfect = _save(perfect_submission(release.stem), tmp_path, release.name)
    report = check_notebook(perfect, run=False)  # compared with the course's release automatically
    assert report.damaged == [] and report.missing_imports == []
    perfect_nb = nbformat.read(perfect, as_version=4)
    next(c for c in perfect_nb.cells if c.metadata.get("nbgrader", {}).get("locked")).source += "\n# edited"
    assert check_notebook(_save(perfect_nb, tmp_path / "edited", release.name), run=False).damaged != []
