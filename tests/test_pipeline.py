"""The grading pipeline end to end: real nbgrader, real bubblewrap, real kernels, on the tiny assignment.

- parallel grading gives the same grades as plain serial ``nbgrader autograde``;
- the adversarial corpus (tests/fixtures/hostile.py) is graded within its
  limits with the expected scores, and changes nothing for the others;
- malformed submissions get a row with a reason, and the batch goes on;
- the CLI runs the whole flow and the export has every student x assignment.
"""

from __future__ import annotations

import csv
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from fixtures.hostile import hostile_submissions
from fixtures.tiny.course import MAX_SCORE, SLUG, blank, make_tiny_course, perfect, wrong

from autograder.pipeline import autograde, export_grades, load_course, summary_table
from autograder.sandbox import SandboxLimits, sandbox_status
from autograder.submissions import add_submission, with_answers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sandbox_status()[0], reason=f"no sandbox here: {sandbox_status()[1]}"),
]

#: Small limits, so that the hostile corpus runs in minutes.
LIMITS = SandboxLimits(cell_timeout=12, notebook_timeout=90, memory_mb=1536, max_processes=96)
EXPECTED_BASE = {"perfect": 5.0, "blank": 0.0, "wrong": 1.5}


def scores_in(course_dir: Path) -> dict[str, dict[str, float]]:
    """Every student's score per grade cell, straight from the gradebook file."""
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        rows = db.execute(
            "SELECT student.id, base_cell.name, grade.auto_score FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "JOIN student ON submitted_assignment.student_id = student.id "
            "JOIN base_cell ON grade.cell_id = base_cell.id").fetchall()
    result: dict[str, dict[str, float]] = {}
    for student, cell, score in rows:
        result.setdefault(student, {})[cell] = score
    return result


def base_course(tmp_path: Path, name: str) -> Path:
    course = make_tiny_course(tmp_path / name)
    for student, make in (("perfect", perfect), ("blank", blank), ("wrong", wrong)):
        add_submission(course, SLUG, student, make(course))
    return course


def test_parallel_grades_equal_serial_nbgrader_autograde(tmp_path):
    serial = base_course(tmp_path, "serial")
    parallel = base_course(tmp_path, "parallel")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", SLUG, "--force"], cwd=serial,
                          capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ,
                               "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SandboxedExecute" in (serial / "nbgrader_config.py").read_text()  # plain nbgrader is sandboxed too
    outcomes = autograde(load_course(parallel), SLUG, workers=2, limits=LIMITS, progress=False)
    assert [o.status for o in outcomes] == ["graded"] * 3
    assert scores_in(parallel) == scores_in(serial)
    assert {o.student: o.score for o in outcomes} == EXPECTED_BASE
    assert all(o.sandboxed for o in outcomes)
    assert (parallel / "autograded" / "perfect" / SLUG / f"{SLUG}.ipynb").is_file()


@pytest.fixture
def loopback_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    listener.close()


def test_hostile_corpus_is_graded_within_limits_and_harms_no_one(tmp_path, loopback_listener):
    port, accepted = loopback_listener
    course = base_course(tmp_path, "hostile")
    repo = Path(__file__).resolve().parent.parent
    secrets = [str(course / "source" / SLUG / f"{SLUG}.ipynb"), str(course / "gradebook.db"),
               str(course / "submitted" / "perfect" / SLUG / f"{SLUG}.ipynb"), str(repo / "nbgrader_config.py"),
               str(repo / "tests" / "fixtures" / "tiny" / "tiny.ipynb")]
    targets = [str(course), str(repo / "autograder"), str(course / "submitted" / "perfect")]
    cases = hostile_submissions(port, secrets, targets)
    for name, (answers, _case) in cases.items():
        add_submission(course, SLUG, name, with_answers(blank(course), answers))
    outcomes = {o.student: o for o in autograde(load_course(course), SLUG, workers=2, limits=LIMITS,
                                                progress=False)}
    print(summary_table(list(outcomes.values())))
    for name, (_answers, case) in cases.items():
        outcome = outcomes[name]
        assert outcome.status == "graded", f"{name}: {outcome.reason}"
        assert outcome.score == case.expected, f"{name} ({case.why}): {outcome.summary}"
        if case.note:
            assert case.note in " ".join(outcome.notes), f"{name}: {outcome.notes}"
        # within its limits: never much longer than one notebook's wall-clock budget
        assert outcome.execution_seconds < LIMITS.startup_timeout + LIMITS.notebook_timeout + 30
    # the others are graded as if the hostile ones were not there
    assert {s: outcomes[s].score for s in EXPECTED_BASE} == EXPECTED_BASE
    # nothing reached the host's loopback, nothing was written outside, the gradebook is intact
    assert accepted == []
    assert not any((Path(t) / "pwned-by-student.txt").exists() for t in targets)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert set(scores_in(course)) == set(cases) | set(EXPECTED_BASE)
    huge = nbformat.read(course / "autograded" / "huge-output" / SLUG / f"{SLUG}.ipynb", as_version=4)
    assert len(nbformat.writes(huge)) < 3_000_000


def _malformed(course: Path) -> None:
    good = perfect(course)
    add_submission(course, SLUG, "perfect", good)
    folder = add_submission(course, SLUG, "bad-json", good)
    (folder / f"{SLUG}.ipynb").write_text('{"cells": [ this is not json')
    folder = add_submission(course, SLUG, "wrong-name", good)
    (folder / f"{SLUG}.ipynb").rename(folder / "my-homework.ipynb")
    for student, change in (("deleted-cell", "delete"), ("duplicated-cell", "duplicate"), ("retyped-cell", "retype")):
        nb = perfect(course)
        index = next(i for i, c in enumerate(nb.cells)
                     if c.metadata.get("nbgrader", {}).get("grade_id") == "q2-double-tests")
        if change == "delete":
            del nb.cells[index]
        elif change == "duplicate":
            nb.cells.insert(index, nbformat.from_dict(dict(nb.cells[index])))
        else:
            cell = nb.cells[index]
            nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
        add_submission(course, SLUG, student, nb)


def test_malformed_submissions_get_a_reason_and_the_batch_goes_on(tmp_path):
    course = make_tiny_course(tmp_path / "malformed")
    _malformed(course)
    loaded = load_course(course)
    outcomes = {o.student: o for o in autograde(loaded, SLUG, workers=2, limits=LIMITS, progress=False)}
    assert outcomes["perfect"].score == MAX_SCORE
    assert outcomes["bad-json"].status == "failed" and "not a readable notebook" in outcomes["bad-json"].reason
    assert outcomes["wrong-name"].status == "failed" and "my-homework.ipynb" in outcomes["wrong-name"].reason
    assert "deleted" in " ".join(outcomes["deleted-cell"].notes)
    assert "appears 2 times" in " ".join(outcomes["duplicated-cell"].notes)
    assert "changed from code to markdown" in " ".join(outcomes["retyped-cell"].notes)
    for student in ("deleted-cell", "duplicated-cell", "retyped-cell"):
        outcome = outcomes[student]
        assert outcome.status == "failed" or outcome.score is not None, outcome
    rows = export_grades(loaded)
    assert {r["student_id"] for r in rows} == set(outcomes)
    for row in rows:
        assert row["score"] != "" or row["reason"], row


def test_cli_runs_the_whole_flow_and_exports_every_student(tmp_path):
    course = base_course(tmp_path, "cli")
    course_grade = [sys.executable, "-m", "autograder.cli", "--course-root", str(course)]
    done = subprocess.run([*course_grade, "autograde", SLUG, "--workers", "2", "--cell-timeout", "12",
                           "--notebook-timeout", "90", "--memory-mb", "1536", "--no-progress"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "perfect" in done.stdout and "5 / 5" in done.stdout and "3 graded, 0 failed" in done.stdout
    out = tmp_path / "grades.csv"
    done = subprocess.run([*course_grade, "export", "--to", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows} == {
        (s, SLUG): v for s, v in EXPECTED_BASE.items()}
    assert all(r["sandboxed"] == "yes" for r in rows)


def test_unsandboxed_grading_is_said_in_the_export(tmp_path):
    course = make_tiny_course(tmp_path / "unsandboxed")
    add_submission(course, SLUG, "perfect", perfect(course))
    loaded = load_course(course)
    messages: list[str] = []
    outcomes = autograde(loaded, SLUG, workers=1, unsandboxed=True, limits=LIMITS, progress=False,
                         log=messages.append)
    assert outcomes[0].score == MAX_SCORE and not outcomes[0].sandboxed
    assert any("UNSANDBOXED" in m for m in messages)
    assert "UNSANDBOXED" in summary_table(outcomes)
    assert export_grades(loaded)[0]["sandboxed"].startswith("NO")
