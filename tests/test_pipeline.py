"""The grading pipeline end to end: real nbgrader, real bubblewrap, real kernels, on the tiny assignment.

- parallel grading gives the same grades as plain serial ``nbgrader autograde``;
- the adversarial corpus (tests/fixtures/hostile.py) is graded within its
  limits with the expected scores, and changes nothing for the others;
- malformed submissions get a row with a reason, and the batch goes on;
- the CLI runs the whole flow and the export has every student x assignment.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
from fixtures.hostile import CATEGORIES, hostile_submissions
from fixtures.tiny.course import MAX_SCORE, SLUG, WRONG_ANSWERS, blank, make_tiny_course, perfect, wrong
from fixtures.tiny.course import SOURCE as TINY_SOURCE
from support.submissions import (
    add_submission,
    answer_cells,
    course_config_text,
    nbgrader_env_for,
    run_in_course,
    scores_in,
    strip_solution_markers,
    with_answers,
)

from autograder.grading.config import SandboxLimits, nbgrader_env
from autograder.grading.pipeline import (
    GradingWorker,
    _process_identity,
    autograde,
    export_grades,
    load_course,
    summary_table,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("sandbox"),
]

#: Small limits, so that the hostile corpus runs in minutes.
LIMITS = SandboxLimits(cell_timeout=12, notebook_timeout=90, memory_mb=1536, max_processes=96)
#: Smaller still for the hostile batch: each hang costs one cell limit (plus the grader's grace when it
#: has to kill the sandbox); the tiny assignment's honest cells take well under a second.
HOSTILE_LIMITS = SandboxLimits(cell_timeout=8, notebook_timeout=60, memory_mb=1536, max_processes=96)
EXPECTED_BASE = {"perfect": 5.0, "blank": 0.0, "wrong": 1.5}


def base_course(tmp_path: Path, name: str) -> Path:
    course = make_tiny_course(tmp_path / name)
    for student, make in (("perfect", perfect), ("blank", blank), ("wrong", wrong)):
        add_submission(course, SLUG, student, make(course))
    return course


def test_parallel_grades_equal_serial_nbgrader_autograde(tmp_path):
    serial = base_course(tmp_path, "serial")
    parallel = base_course(tmp_path, "parallel")
    done = run_in_course(serial, "nbgrader", "autograde", SLUG, "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "SandboxedExecute" in (serial / "nbgrader_config.py").read_text()
    )  # plain nbgrader is sandboxed too
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
    secrets = [
        str(course / "source" / SLUG / f"{SLUG}.ipynb"),
        str(course / "gradebook.db"),
        str(course / "submitted" / "perfect" / SLUG / f"{SLUG}.ipynb"),
        str(repo / "nbgrader_config.py"),
        str(repo / "tests" / "fixtures" / "tiny" / "tiny.ipynb"),
    ]
    targets = [str(course), str(repo / "autograder"), str(course / "submitted" / "perfect")]
    cases = hostile_submissions(port, secrets, targets)
    assert set(CATEGORIES.values()) == set(cases)  # every attack of the issue is in this batch
    for name, (answers, _case) in cases.items():
        add_submission(course, SLUG, name, with_answers(blank(course), answers))
    outcomes = {
        o.student: o
        for o in autograde(load_course(course), SLUG, workers=2, limits=HOSTILE_LIMITS, progress=False)
    }
    print(summary_table(list(outcomes.values())))
    cells = scores_in(course)
    for name, (_answers, case) in cases.items():
        outcome = outcomes[name]
        assert outcome.status == "graded", f"{name}: {outcome.reason}"
        assert cells[name] == case.expected_cells, f"{name} ({case.why}): {outcome.summary}"
        assert outcome.score == case.expected, f"{name} ({case.why}): {outcome.summary}"
        if case.note:
            assert case.note in " ".join(outcome.notes), f"{name}: {outcome.notes}"
        # within its limits: never much longer than one notebook's wall-clock budget
        assert (
            outcome.execution_seconds < HOSTILE_LIMITS.startup_timeout + HOSTILE_LIMITS.notebook_timeout + 30
        )
    # the others are graded as if the hostile ones were not there
    assert {s: outcomes[s].score for s in EXPECTED_BASE} == EXPECTED_BASE
    # nothing reached the host's loopback, nothing was written outside, the gradebook is intact
    assert accepted == []
    assert not any((Path(t) / "pwned-by-student.txt").exists() for t in targets)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert set(cells) == set(cases) | set(EXPECTED_BASE)
    flooded = nbformat.read(
        course / "autograded" / "ignores-interrupt" / SLUG / f"{SLUG}.ipynb", as_version=4
    )
    assert len(nbformat.writes(flooded)) < 3_000_000
    assert "output truncated by the grader" in nbformat.writes(flooded)


def _malformed(course: Path) -> None:
    good = perfect(course)
    add_submission(course, SLUG, "perfect", good)
    folder = add_submission(course, SLUG, "bad-json", good)
    (folder / f"{SLUG}.ipynb").write_text('{"cells": [ this is not json')
    folder = add_submission(course, SLUG, "wrong-name", good)
    (folder / f"{SLUG}.ipynb").rename(folder / "my-homework.ipynb")
    for student, change in (
        ("deleted-cell", "delete"),
        ("duplicated-cell", "duplicate"),
        ("retyped-cell", "retype"),
    ):
        nb = perfect(course)
        index = next(
            i
            for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("grade_id") == "q2-double-tests"
        )
        if change == "delete":
            del nb.cells[index]
        elif change == "duplicate":
            nb.cells.insert(index, nbformat.from_dict(dict(nb.cells[index])))
        else:
            cell = nb.cells[index]
            nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
        add_submission(course, SLUG, student, nb)


#: What nbgrader gives a correct submission whose q2 test cell (2 points) was deleted: nbgrader does not
#: put a deleted cell back, so its points are lost, and the outcome's notes say why.
DELETED_CELL_SCORE = 3.0


def test_malformed_submissions_get_a_reason_and_the_batch_goes_on(tmp_path):
    course = make_tiny_course(tmp_path / "malformed")
    _malformed(course)
    loaded = load_course(course)
    outcomes = {o.student: o for o in autograde(loaded, SLUG, workers=2, limits=LIMITS, progress=False)}
    assert outcomes["perfect"].score == MAX_SCORE
    assert (
        outcomes["bad-json"].status == "failed" and "not a readable notebook" in outcomes["bad-json"].reason
    )
    assert outcomes["wrong-name"].status == "failed" and "my-homework.ipynb" in outcomes["wrong-name"].reason
    # a deleted test cell: graded, its points lost, the cause in the notes
    deleted = outcomes["deleted-cell"]
    assert deleted.status == "graded" and "was deleted" in " ".join(deleted.notes), deleted
    assert deleted.score == DELETED_CELL_SCORE, deleted
    # a copied or retyped grade cell cannot be graded as submitted: failed, with the cause, no score
    for student, cause in (
        ("duplicated-cell", "appears more than once"),
        ("retyped-cell", "damaged nbgrader metadata"),
    ):
        outcome = outcomes[student]
        assert outcome.status == "failed" and outcome.score is None and cause in outcome.reason, outcome
    rows = export_grades(loaded)
    assert {r["student_id"] for r in rows} == set(outcomes)
    for row in rows:
        assert row["score"] != "" or row["reason"], row


#: A Canvas-style download name: ``<login>_<user id>_<file name>``.
ZIP_REGEXP = r".*/(?P<student_id>[a-z]+)_\d+_(?P<file_id>[^/]+)$"
#: Strings that only the hidden tests of the tiny assignment contain.
HIDDEN_ONLY = ("Check out my channel", "rhythm", "(-7, 0, 11)", "answer == 42")


def _course_grade_command(course: Path, *args: str) -> list[str]:
    """The installed ``course-grade`` console script (``python -m autograder.grading.cli`` if it is not
    installed) on ``course``, with ``args``."""
    script = Path(sys.executable).parent / "course-grade"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "autograder.grading.cli"]
    return [*command, "--course-root", str(course), *args]


def _course_grade(
    course: Path, *args: str, timeout: float = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        _course_grade_command(course, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or nbgrader_env(),
    )


def _as_student(home: Path, exchange: Path, course_id: str, *args: str) -> None:
    """nbgrader as a learner runs it: in their own folder, with the course's exchange and their id."""
    env = nbgrader_env_for(home)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            *args,
            f"--Exchange.root={exchange}",
            f"--CourseDirectory.course_id={course_id}",
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _hand_in(home: Path, exchange: Path, course_id: str, student: str, answers: dict) -> None:
    _as_student(home, exchange, course_id, "fetch_assignment", SLUG)
    path = home / SLUG / f"{SLUG}.ipynb"
    nbformat.write(with_answers(nbformat.read(path, as_version=4), answers), path)
    _as_student(home, exchange, course_id, "submit", SLUG, f"--student={student}")


def _export(path: Path) -> dict[str, dict]:
    rows = list(csv.DictReader(path.open()))
    assert all(r["assignment"] == SLUG for r in rows), rows
    return {r["student_id"]: r for r in rows}


def test_course_grade_runs_the_whole_term_from_release_to_export(tmp_path):
    """release -> learners fetch and submit -> collect (exchange and LMS zip) -> autograde -> feedback
    -> export, then `all` for a late hand-in: every step through the `course-grade` command."""
    course_id = "tiny-course"
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    course = tmp_path / "course"
    (course / "source" / SLUG).mkdir(parents=True)
    shutil.copyfile(TINY_SOURCE, course / "source" / SLUG / f"{SLUG}.ipynb")
    (course / "nbgrader_config.py").write_text(
        course_config_text(course)
        + f"c.CourseDirectory.course_id = {course_id!r}\nc.Exchange.root = {str(exchange)!r}\n"
    )
    limits = ["--workers", "2", "--cell-timeout", "20", "--notebook-timeout", "120", "--memory-mb", "1536"]

    # release: the student version, without solutions or hidden tests, published to the exchange
    done = _course_grade(course, "release", SLUG, "--exchange")
    assert done.returncode == 0, done.stderr[-2000:]
    released = (course / "release" / SLUG / f"{SLUG}.ipynb").read_text()
    assert not any(text in released for text in HIDDEN_ONLY) and "BEGIN SOLUTION" not in released
    assert (exchange / course_id / "outbound" / SLUG / f"{SLUG}.ipynb").is_file()

    # two learners hand in through the exchange; two more arrive as an LMS download (one is broken)
    right = {
        gid: strip_solution_markers(c.source)
        for gid, c in answer_cells(nbformat.read(TINY_SOURCE, as_version=4)).items()
    }
    _hand_in(tmp_path / "homes" / "alice", exchange, course_id, "alice", right)
    _hand_in(tmp_path / "homes" / "bob", exchange, course_id, "bob", WRONG_ANSWERS)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / "submissions.zip", "w") as archive:
        archive.writestr(f"carol_10003_{SLUG}.ipynb", nbformat.writes(perfect(course)))
        archive.writestr(f"dave_10004_{SLUG}.ipynb", '{"cells": [ this is not a notebook')
    roster = run_in_course(course, "nbgrader", "db", "student", "add", "erin", timeout=300)
    assert roster.returncode == 0, roster.stderr[-2000:]  # erin is enrolled but never hands anything in

    done = _course_grade(course, "collect", SLUG)
    assert done.returncode == 0, done.stderr[-2000:]
    done = _course_grade(course, "collect", SLUG, "--zip", str(downloads), "--regexp", ZIP_REGEXP)
    assert done.returncode == 0, done.stderr[-2000:]
    submitted = sorted(p.name for p in (course / "submitted").iterdir())
    assert submitted == ["alice", "bob", "carol", "dave"]

    # autograde: a progress bar over the submissions, then the summary table
    done = _course_grade(course, "autograde", SLUG, *limits)
    # dave's file is not a notebook: his row says so and the exit code tells the instructor's script
    assert done.returncode == 1, done.stderr[-2000:]
    assert "1 submission(s) could not be graded" in done.stderr, done.stderr[-2000:]
    assert f"grading {SLUG}" in done.stderr and "4/4" in done.stderr, done.stderr[-2000:]
    table = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "5 / 5" in table["alice"] and "1.5 / 5" in table["bob"] and "5 / 5" in table["carol"], done.stdout
    assert "FAILED" in table["dave"] and "not a readable notebook" in table["dave"], done.stdout
    assert "3 graded, 1 failed" in done.stdout

    # feedback: one page per graded learner, hidden tests hidden (and shown only with --reveal)
    done = _course_grade(course, "feedback", SLUG)
    assert done.returncode == 0, done.stderr[-2000:]
    for student in ("alice", "bob", "carol"):
        page = (course / "feedback" / student / SLUG / f"{SLUG}.html").read_text()
        assert "hidden tests:" in page
        leaked = [text for text in HIDDEN_ONLY if text in page]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked}"
    assert "is not right" in (course / "feedback" / "bob" / SLUG / f"{SLUG}.html").read_text()
    assert not (course / "feedback" / "dave").exists()
    done = _course_grade(course, "feedback", SLUG, "--reveal", "--student", "alice")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rhythm" in (course / "feedback" / "alice" / SLUG / f"{SLUG}.html").read_text()

    # export: every student x assignment has a score or a reason
    done = _course_grade(course, "export", "--to", str(tmp_path / "grades.csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _export(tmp_path / "grades.csv")
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin"}
    assert {s: float(rows[s]["score"]) for s in ("alice", "bob", "carol")} == {
        "alice": 5.0,
        "bob": 1.5,
        "carol": 5.0,
    }
    assert (
        rows["dave"]["score"] == ""
        and rows["dave"]["status"] == "failed"
        and "not a readable" in rows["dave"]["reason"]
    )
    assert rows["erin"]["score"] == "" and rows["erin"]["reason"] == "no submission"
    assert all(rows[s]["sandboxed"] == "yes" for s in ("alice", "bob", "carol", "dave"))

    # a late hand-in, then `all`: collect from the exchange, grade, feedback, export in one command
    _hand_in(tmp_path / "homes" / "erin", exchange, course_id, "erin", {**right, "q1-answer": "answer = 41"})
    done = _course_grade(course, "all", SLUG, *limits, "--to", str(tmp_path / "all.csv"))
    assert done.returncode == 1, done.stderr[-2000:]  # dave's file still cannot be graded
    assert f"grading {SLUG}" in done.stderr and "5/5" in done.stderr, done.stderr[-2000:]
    assert "4 graded, 1 failed" in done.stdout, done.stdout
    assert (course / "feedback" / "erin" / SLUG / f"{SLUG}.html").is_file()
    rows = _export(tmp_path / "all.csv")
    assert {s: (r["score"], r["reason"] if not r["score"] else "") for s, r in rows.items()} == {
        "alice": ("5.0", ""),
        "bob": ("1.5", ""),
        "carol": ("5.0", ""),
        "erin": ("4.0", ""),
        "dave": ("", rows["dave"]["reason"]),
    }
    assert "not a readable" in rows["dave"]["reason"]


def test_unsandboxed_grading_is_said_in_the_export(tmp_path):
    course = make_tiny_course(tmp_path / "unsandboxed")
    add_submission(course, SLUG, "perfect", perfect(course))
    loaded = load_course(course)
    messages: list[str] = []
    outcomes = autograde(
        loaded, SLUG, workers=1, unsandboxed=True, limits=LIMITS, progress=False, log=messages.append
    )
    assert outcomes[0].score == MAX_SCORE and not outcomes[0].sandboxed
    assert any("UNSANDBOXED" in m for m in messages)
    assert "UNSANDBOXED" in summary_table(outcomes)
    assert export_grades(loaded)[0]["sandboxed"].startswith("NO")


def test_a_grading_worker_that_fails_or_overruns_is_reported_and_replaced(tmp_path):
    """The long-lived worker: an nbgrader error comes back as a failed result, an overrun kills the worker,
    and the next submission gets a fresh one that grades it."""
    course = make_tiny_course(tmp_path / "worker")
    add_submission(course, SLUG, "perfect", perfect(course))
    loaded = load_course(course)
    worker = GradingWorker(loaded, tmp_path / "worker.log")
    try:
        code, log = worker.autograde(tmp_path / "no-such-course", SLUG, "perfect", {}, timeout=300)
        assert code == 1 and "no-such-course" in log, log
        first, first_tmp = worker.proc, worker.tmp
        # its own temporary folder, beside its log, is where every submission's run folder is made
        assert first_tmp.parent == tmp_path and first_tmp.is_dir()
        assert psutil.Process(first.pid).environ()["TMPDIR"] == str(first_tmp)
        code, log = worker.autograde(course, SLUG, "perfect", {}, timeout=0.5)
        assert code == -1 and "did not finish within 0.5 s" in log and worker.proc is None
        assert not first_tmp.exists()  # killed, it leaves no learner's files behind
        settings = {
            "SandboxedExecute": {"timeout": LIMITS.cell_timeout, "notebook_timeout": LIMITS.notebook_timeout}
        }
        code, log = worker.autograde(course, SLUG, "perfect", settings, timeout=600)
        assert code == 0, log
        assert worker.proc is not None and worker.proc is not first
    finally:
        worker.stop()
    assert not list(tmp_path.glob("worker-tmp-*"))
    assert scores_in(course)["perfect"] == {
        "q1-answer-tests": 1.0,
        "q2-double-tests": 2.0,
        "q3-vowels-tests": 2.0,
    }


def test_a_killed_graders_scratch_folder_is_removed_by_the_next_run(tmp_path):
    """``kill -9`` of ``course-grade`` leaves its scratch folder (submissions in it) in the temporary
    folder; the next run on the machine removes it, and only it: not a folder that is no grading run's,
    not a running grader's, and it does remove one whose pid now belongs to another process."""
    course = make_tiny_course(tmp_path / "course")
    add_submission(course, SLUG, "perfect", perfect(course))
    hang = with_answers(blank(course), {"q1-answer": "import time\ntime.sleep(600)"})
    add_submission(course, SLUG, "slow", hang)  # still running when the grader is killed
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**nbgrader_env(), "TMPDIR": str(tmp)}
    limits = ["--workers", "1", "--cell-timeout", "120", "--notebook-timeout", "300", "--memory-mb", "1536"]
    grading = subprocess.Popen(
        _course_grade_command(course, "autograde", SLUG, *limits),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(tmp.glob(f"course-grade-{SLUG}-*/worker-*-tmp-*/course-grade-run-*")):
            assert grading.poll() is None and time.monotonic() < deadline, (
                "the grader never got to the notebook"
            )
            time.sleep(0.2)
    finally:
        os.killpg(grading.pid, signal.SIGKILL)
        grading.wait()
    [killed] = tmp.glob(f"course-grade-{SLUG}-*")
    assert (killed / "owner").read_text().split()[1] == str(grading.pid)

    # beside it: a folder of something else, a running grader's, and a dead one's whose pid was reused
    (tmp / "course-grade-notes").mkdir()
    (tmp / "course-grade-notes" / "owner").write_text("not a grader's\n")
    live = tmp / f"course-grade-{SLUG}-live"
    live.mkdir()
    host, pid, started = _process_identity(os.getpid()).split()
    assert (host, pid) == (socket.gethostname(), str(os.getpid())) and started.isdigit()
    (live / "owner").write_text(f"{host} {pid} {started}\n")
    reused = tmp / f"course-grade-{SLUG}-reused"
    reused.mkdir()
    (reused / "owner").write_text(f"{host} {pid} {int(started) - 1}\n")

    done = _course_grade(course, "autograde", SLUG, "--student", "perfect", *limits, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        f"removed {killed}, left by a grader (pid {grading.pid}) that was killed" in done.stdout + done.stderr
    )
    assert scores_in(course)["perfect"] == {
        "q1-answer-tests": 1.0,
        "q2-double-tests": 2.0,
        "q3-vowels-tests": 2.0,
    }
    assert sorted(p.name for p in tmp.iterdir()) == sorted(["course-grade-notes", live.name])
