"""Grading on a Dask cluster: real ``distributed`` worker processes on loopback, real nbgrader, real sandboxes.

- a local 2-worker cluster gives the grades of the local pipeline, and a worker gets only what travels
  with the task (the gradebook it gets holds that one student; symbolic links stay behind);
- a worker killed mid-batch (by its pid) costs nothing: every submission is graded once;
- a submission whose worker dies every time is reported failed, never lost nor given a zero;
- a worker without a sandbox makes the batch refuse before anything is graded;
- the chapter's commands work: ``dask scheduler``, ``dask worker``, ``course-grade --cluster <address>``,
  and an unreachable scheduler is an error that says so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import psutil
import pytest
from distributed import Client, LocalCluster
from fixtures.tiny.course import SLUG, blank, make_tiny_course, perfect, wrong
from support.submissions import add_submission, scores_in

from autograder.grading.cluster import (
    course_settings_text,
    parse_cluster,
    student_gradebook,
    template_gradebook,
    unzip_into,
    zip_folder,
)
from autograder.grading.config import SandboxLimits
from autograder.grading.pipeline import autograde, load_course
from autograder.grading.sandbox import SandboxUnavailable, sandbox_status

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
HAVE_SANDBOX, WHY = sandbox_status()

pytestmark = [
    pytest.mark.slow,
    # a capability the tests need: missing in CI is a failure, on a developer's machine a skip that says why
    pytest.mark.skipif(not HAVE_SANDBOX and not IN_CI, reason=f"no sandbox here: {WHY}"),
]

EXPECTED = {"perfect": 5.0, "blank": 0.0, "wrong": 1.5}
#: Small limits: the tiny assignment's honest cells take well under a second.
LIMITS = SandboxLimits(cell_timeout=12, notebook_timeout=90, memory_mb=1536, max_processes=96)


@pytest.fixture(autouse=True)
def _sandbox_required():
    assert HAVE_SANDBOX, f"these tests need the grading sandbox (bubblewrap): {WHY}"


def class_course(tmp_path: Path, name: str, size: int) -> Path:
    """The tiny assignment with ``size`` submissions: perfect, blank and wrong, in turn."""
    course = make_tiny_course(tmp_path / name)
    makers = [("perfect", perfect), ("blank", blank), ("wrong", wrong)]
    for number in range(size):
        kind, make = makers[number % len(makers)]
        add_submission(course, SLUG, f"s{number:02d}-{kind}", make(course))
    return course


def expected_score(student: str) -> float:
    return EXPECTED[student.split("-", 1)[1]]


def submissions_in(course_dir: Path) -> list[str]:
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        return sorted(s for (s,) in db.execute("SELECT student_id FROM submitted_assignment"))


@pytest.fixture
def local_cluster(tmp_path, monkeypatch):
    """Two worker processes (one thread each) under nannies, scheduler and workers on 127.0.0.1; their
    local directories in ``tmp_path / "dask"`` and their processes' temporary folder ``tmp_path / "tmp"``."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # read by each worker process it starts
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=str(tmp_path / "dask"),
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster, client


def grading_pids(client: Client) -> dict[str, int]:
    """Each worker's process id (the process a nanny restarts when it dies)."""
    return client.run(os.getpid)


def kill_when_grading(pids: dict[str, int], killed: list, stop: threading.Event, times: int = 1) -> None:
    """SIGKILL a worker process as soon as a notebook of its task runs in a sandbox (mid-task), ``times`` times."""
    deadline = time.monotonic() + 300
    while len(killed) < times and not stop.is_set() and time.monotonic() < deadline:
        for pid in list(pids.values()):
            if pid in killed:
                continue
            try:
                busy = any(
                    "autograder.grading.runner" in " ".join(child.cmdline())
                    for child in psutil.Process(pid).children(recursive=True)
                )
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if busy:
                os.kill(pid, signal.SIGKILL)  # a process this test started (a LocalCluster worker)
                killed.append(pid)
                break
        time.sleep(0.2)


def autograde_killing_a_worker(course_dir: Path, client: Client) -> tuple[list, list[int]]:
    """Autograde the course on ``client`` while :func:`kill_when_grading` kills a worker mid-task: the
    outcomes, and the process ids it killed."""
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(
        target=kill_when_grading, args=(grading_pids(client), killed, stop), daemon=True
    )
    killer.start()
    try:
        outcomes = autograde(load_course(course_dir), SLUG, cluster=client, limits=LIMITS, progress=False)
    finally:
        stop.set()
        killer.join()
    return outcomes, killed


# --------------------------------------------------------------------------- what travels


def test_local_cluster_gives_the_grades_of_the_local_pipeline_from_what_travels(tmp_path):
    assert parse_cluster("local:2") == 2 and parse_cluster("tcp://127.0.0.1:8786") is None
    with pytest.raises(ValueError):
        parse_cluster("local:0")
    local = class_course(tmp_path, "local", 3)
    dask_course = class_course(tmp_path, "dask", 3)
    assert [
        o.status for o in autograde(load_course(local), SLUG, workers=2, limits=LIMITS, progress=False)
    ] == ["graded"] * 3
    lines: list[str] = []
    outcomes = autograde(
        load_course(dask_course), SLUG, cluster="local:2", limits=LIMITS, progress=False, log=lines.append
    )
    assert any("Dask: a local cluster of 2" in line for line in lines)
    assert [o.status for o in outcomes] == ["graded"] * 3, [o.reason for o in outcomes]
    assert {o.student: o.score for o in outcomes} == {s: expected_score(s) for s in submissions_in(local)}
    assert scores_in(dask_course) == scores_in(local)
    assert all(o.sandboxed and o.reports and o.execution_seconds > 0 for o in outcomes)
    for student in submissions_in(dask_course):  # the autograded notebooks came back with the results
        assert (dask_course / "autograded" / student / SLUG / f"{SLUG}.ipynb").is_file()
    results = json.loads((dask_course / "grading" / SLUG / "results.json").read_text())
    assert sorted(results["students"]) == submissions_in(local)

    # what travels: a gradebook with the course's assignments and that one learner
    template = template_gradebook(local / "gradebook.db", tmp_path / "template.db")
    with sqlite3.connect(template) as db:
        assert db.execute("SELECT count(*) FROM student").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM grade").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM grade_cells").fetchone()[0] == 3  # the assignment stays
    assert b"s00-perfect" not in template.read_bytes()  # no trace of a learner in free pages either
    data = student_gradebook(template, local / "gradebook.db", "s02-wrong", tmp_path / "one.db")
    (tmp_path / "one.db").write_bytes(data)
    with sqlite3.connect(tmp_path / "one.db") as db:
        assert [s for (s,) in db.execute("SELECT id FROM student")] == ["s02-wrong"]
        assert db.execute("SELECT count(*) FROM grade").fetchone()[0] == 3
        total = db.execute("SELECT sum(auto_score) FROM grade").fetchone()[0]
    assert total == EXPECTED["wrong"]
    assert b"s00-perfect" not in data and b"s01-blank" not in data
    # the course's settings go as plain values, with the sandboxed execute step and none of this machine's paths
    settings = course_settings_text(load_course(local))
    assert "autograder.grading.execute.SandboxedExecute" in settings and str(local) not in settings
    # files travel as zips; a symbolic link in a submission does not (it could point anywhere here)
    folder = local / "submitted" / "s00-perfect" / SLUG
    (folder / "link").symlink_to(local / "gradebook.db")
    unzip_into(zip_folder(folder), tmp_path / "unpacked")
    assert sorted(p.name for p in (tmp_path / "unpacked").iterdir()) == sorted(
        ["timestamp.txt", f"{SLUG}.ipynb"]
    )


def test_a_worker_killed_mid_batch_costs_nothing(tmp_path, local_cluster):
    _cluster, client = local_cluster
    course_dir = class_course(tmp_path, "killed", 6)
    outcomes, killed = autograde_killing_a_worker(course_dir, client)
    assert len(killed) == 1, "the test must kill a worker while it grades"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    students = [f"s{n:02d}-{kind}" for n, kind in enumerate(["perfect", "blank", "wrong"] * 2)]
    assert [o.student for o in outcomes] == sorted(students)
    assert [o.status for o in outcomes] == ["graded"] * 6, [o.reason for o in outcomes]
    assert {o.student: o.score for o in outcomes} == {s: expected_score(s) for s in students}
    assert submissions_in(course_dir) == sorted(students)  # one submission each: none lost, none twice
    assert len(grading_pids(client)) == 2  # the nanny replaced the killed worker
    # nothing of the task the killed worker held (the learner's folder, its sandbox's run folder) stays
    # on the machine: a worker's files live in its local directory, which its nanny removes
    assert not list((tmp_path / "tmp").iterdir())
    left = [
        p.name for p in (tmp_path / "dask").rglob("*") if p.name.startswith(("grade-", "course-grade-run-"))
    ]
    assert not left, left


def test_a_submission_whose_worker_always_dies_is_reported_failed(tmp_path):
    course_dir = class_course(tmp_path, "doomed", 4)
    # no second chance: the first death of a task's worker fails that task (KilledWorker)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        outcomes, killed = autograde_killing_a_worker(course_dir, client)
    assert len(killed) == 1
    assert len(outcomes) == 4  # every submission has an outcome
    failed = [o for o in outcomes if o.status == "failed"]
    graded = [o for o in outcomes if o.status == "graded"]
    assert failed, "the task on the killed worker must fail when no retry is allowed"
    for outcome in failed:
        assert "Dask worker grading it died" in outcome.reason and outcome.score is None
    assert all(o.score == expected_score(o.student) for o in graded)
    assert submissions_in(course_dir) == sorted(o.student for o in graded)  # no zero for the failed ones
    results = json.loads((course_dir / "grading" / SLUG / "results.json").read_text())
    assert {s for s, r in results["students"].items() if r["status"] == "failed"} == {
        o.student for o in failed
    }


def test_a_worker_without_a_sandbox_makes_the_batch_refuse(tmp_path):
    course_dir = class_course(tmp_path, "nosandbox", 2)
    # a worker whose PATH has no bubblewrap, prlimit nor setpriv: it cannot build a sandbox
    bare_path = str(Path(sys.executable).parent)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"PATH": bare_path},
        ) as cluster,
        Client(cluster) as client,
    ):
        with pytest.raises(SandboxUnavailable, match="has no sandbox"):
            autograde(load_course(course_dir), SLUG, cluster=client, limits=LIMITS, progress=False)
    assert submissions_in(course_dir) == []
    assert not (course_dir / "autograded").exists()


def test_course_grade_cli_on_a_scheduler_and_workers_started_with_dask(tmp_path):
    """The chapter's commands: ``dask scheduler``, ``dask worker``, ``course-grade autograde --cluster``."""
    course_dir = class_course(tmp_path, "cli", 2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = str(Path(sys.executable).parent / "dask")
    started = []
    try:
        started.append(
            subprocess.Popen(
                [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        started.append(
            subprocess.Popen(
                [
                    dask_cli,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "course-grade"),
                "autograde",
                SLUG,
                "--cluster",
                address,
                "--no-progress",
                "--cell-timeout",
                str(LIMITS.cell_timeout),
                "--notebook-timeout",
                str(LIMITS.notebook_timeout),
                "--memory-mb",
                str(LIMITS.memory_mb),
            ],
            cwd=course_dir,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        for process in reversed(started):  # the processes this test started, by their pid
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"connected to the scheduler at {address}" in done.stdout
    assert "2 graded, 0 failed" in done.stdout
    assert {s: sc for s, sc in ((s, sum(c.values())) for s, c in scores_in(course_dir).items())} == {
        "s00-perfect": 5.0,
        "s01-blank": 0.0,
    }


def test_course_grade_cli_says_why_it_cannot_reach_a_scheduler(tmp_path):
    course_dir = class_course(tmp_path, "unreachable", 1)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "course-grade"),
            "autograde",
            SLUG,
            "--cluster",
            f"tcp://127.0.0.1:{port}",
            "--no-progress",
        ],
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert f"--cluster tcp://127.0.0.1:{port}" in done.stderr
    assert submissions_in(course_dir) == []
