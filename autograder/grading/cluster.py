"""Grading on a Dask cluster: ``course-grade autograde --cluster <scheduler address | local:N>``.

Each submission becomes one Dask task, :func:`grade_on_worker`, that a Dask
(``distributed``) worker runs: it grades that one submission, with nbgrader's own
``Autograde`` converter and the course's settings, in a private course folder of its
own, student code in its own sandbox (:mod:`autograder.grading.sandbox`), exactly as
the local pipeline does (:func:`autograder.grading.pipeline.grade_in_private_course`,
in a long-lived :class:`~autograder.grading.worker.GradingWorker` per worker slot),
and hands back the raw results and the autograded folder. Only the instructor's
process writes the gradebook and the course's ``autograded/`` folder.

Nothing is shared but the task: no file system is assumed between the instructor's
machine and the workers. A task carries, as bytes,

- the assignment's source folder (a zip; the hidden tests are in it, as on the local
  grader: the sandbox never sees it);
- that student's submission folder (a zip; symbolic links are left out);
- a gradebook that holds the course's assignments and *that student only* (their
  earlier submissions included, so a regrade behaves as on the local grader): no
  other learner's name, e-mail or grade leaves the instructor's machine;
- the course's nbgrader settings as evaluated on the instructor's machine (plain
  values), and the sandbox's limits;

and comes back with the raw results (scores, comments, flags, late penalty,
timestamp, the sandbox's reports, the log's tail) and the autograded folder (a zip).

Exactly once: a task whose worker dies is run again elsewhere by the scheduler (up
to ``distributed.scheduler.allowed-failures`` times), then reported as a failed
outcome ("the Dask worker grading it died ..."), never dropped; an exception inside
a task is retried :data:`RETRIES` times. A result is merged once per student, by the
caller, as the task's future completes; a second result for the same student would be
an error, not a second merge. Before a batch, every worker is asked what it has
(:func:`worker_facts`): a worker without a working sandbox, without the course's data,
or with other versions of nbgrader or of the course's code makes the batch refuse,
since its grades could differ.

``local:N`` starts a cluster of N worker processes (one thread each) on 127.0.0.1 for
the duration of the batch: the same code path as a real cluster, on one machine.
"""

from __future__ import annotations

import ast
import atexit
import concurrent.futures
import contextlib
import hashlib
import io
import os
import platform
import queue
import shutil
import socket
import sqlite3
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from autograder.grading.config import Course, SandboxLimits, load_config, load_course
from autograder.grading.sandbox import SandboxUnavailable, sandbox_status

__all__ = [
    "ClusterRefused",
    "GRADING_DASK_CONFIG",
    "RETRIES",
    "grade_on_cluster",
    "grade_on_worker",
    "open_client",
    "parse_cluster",
    "worker_facts",
]

#: Times a task that *raised* is run again (a worker that dies is the scheduler's ``allowed-failures``).
RETRIES = 1
#: How long ``course-grade`` tries to reach a scheduler, seconds.
CONNECT_TIMEOUT = 30.0
#: How long a batch waits for its first worker to connect, seconds.
WORKER_WAIT = 120.0
#: Tasks in flight per worker thread: enough to keep every worker busy, few enough that a class's
#: submissions do not all sit in the scheduler's memory at once.
IN_FLIGHT_PER_THREAD = 2
#: The gradebook tables that hold learners' data (nbgrader 0.9's schema); a template gradebook has none
#: of their rows, and a task's gradebook only its own student's.
STUDENT_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")
#: The tables nbgrader 0.9 keeps; any other means another schema, which this module refuses to trim.
KNOWN_TABLES = {
    "alembic_version",
    "course",
    "assignment",
    "notebook",
    "base_cell",
    "grade_cells",
    "solution_cells",
    "task_cells",
    "source_cell",
    *STUDENT_TABLES,
}
#: CourseDirectory settings that name the instructor's folders: the worker's private course sets its own.
_LOCAL_SETTINGS = {
    ("CourseDirectory", k)
    for k in (
        "root",
        "db_url",
        "source_directory",
        "release_directory",
        "submitted_directory",
        "autograded_directory",
        "feedback_directory",
        "solution_directory",
    )
}


#: Dask settings for a grading cluster. Its tasks last seconds and hold no data in the worker (a notebook
#: runs in the worker's sandbox), so the millisecond housekeeping of Dask's defaults (an event-loop tick
#: every 20 ms, a memory check every 100 ms, a profiler sampling every 10 ms, system metrics every 500 ms)
#: buys nothing and costs each idle worker about 3 % of a core. ``local:N`` clusters use these; workers
#: started by hand take them from the environment (``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1s`` ...).
GRADING_DASK_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
}


class ClusterRefused(RuntimeError):
    """The cluster cannot grade this batch as the local grader would (a worker lacks something)."""


# --------------------------------------------------------------------------- the cluster


def parse_cluster(spec: str) -> int | None:
    """``local:N`` -> N (a local cluster of N worker processes); a scheduler address -> None."""
    spec = spec.strip()
    if spec.startswith("local:"):
        count = spec[len("local:") :]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--cluster local:N wants a number of workers >= 1, not {spec!r}")
        return int(count)
    if not spec:
        raise ValueError("--cluster wants a scheduler address (tcp://host:8786) or local:N")
    return None


@contextlib.contextmanager
def open_client(spec: str, *, log: Callable[[str], None] = print) -> Iterator:
    """A ``distributed.Client`` for ``spec``: a scheduler's address, or ``local:N`` (started here, on
    127.0.0.1, and stopped when the block ends)."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    workers = parse_cluster(spec)
    with contextlib.ExitStack() as stack:
        if workers is not None:
            stack.enter_context(dask.config.set(GRADING_DASK_CONFIG))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            log(f"Dask: a local cluster of {workers} worker process(es) at {cluster.scheduler_address}")
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(spec, timeout=f"{CONNECT_TIMEOUT:g}s"))
            log(f"Dask: connected to the scheduler at {spec}")
        yield client


def worker_facts() -> dict:
    """What a worker has that decides its grades: run on every worker before a batch."""
    import nbgrader

    from labeling_labs.resources import verify_all

    ok, why = sandbox_status()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "sandbox": ok,
        "isolation": why,
        "python": platform.python_version(),
        "nbgrader": nbgrader.__version__,
        "code": code_fingerprint(),
        "resources": verify_all(),
    }


def code_fingerprint() -> str:
    """A digest of the course's Python code (``autograder``, ``labeling_labs``): what grades depend on."""
    import autograder
    import labeling_labs

    digest = hashlib.sha256()
    for package in (autograder, labeling_labs):
        base = Path(package.__file__).resolve().parent
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(base.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def expected_facts() -> dict:
    """What every worker must match: this machine's nbgrader, course code and Python minor version."""
    import nbgrader

    return {
        "nbgrader": nbgrader.__version__,
        "code": code_fingerprint(),
        "python": platform.python_version().rsplit(".", 1)[0],
    }


def fact_problems(fact: dict, expected: dict, unsandboxed: bool) -> list[str]:
    """Why a worker with ``fact`` (:func:`worker_facts`) would not grade as this machine does."""
    problems = []
    if not fact["sandbox"] and not unsandboxed:
        problems.append(f"has no sandbox: {fact['isolation']}")
    for name in ("nbgrader", "code"):
        if fact[name] != expected[name]:
            problems.append(f"has {name} {fact[name]}, the instructor's machine {expected[name]}")
    if fact["python"].rsplit(".", 1)[0] != expected["python"]:
        problems.append(f"runs Python {fact['python']}, the instructor's machine {expected['python']}")
    return problems + list(fact["resources"])


_FACTS: dict | None = None


def _my_facts() -> dict:
    """This worker process's facts, found once (the spaCy check imports spaCy)."""
    global _FACTS
    with _POOL_LOCK:
        if _FACTS is None:
            _FACTS = worker_facts()
        return _FACTS


def preflight(client, unsandboxed: bool, *, log: Callable[[str], None] = print) -> dict[str, dict]:
    """Every connected worker's :func:`worker_facts`; raise if one of them would grade differently.
    (A worker that joins later, or one restarted since, is checked by its first task.)"""
    client.wait_for_workers(1, timeout=WORKER_WAIT)
    answers = client.run(_my_facts, on_error="return")
    expected = expected_facts()
    facts, problems = {}, []
    for address, fact in sorted(answers.items()):
        if isinstance(fact, BaseException):  # it left or restarted meanwhile: its tasks check it themselves
            log(f"Dask: worker {address} did not answer the pre-flight check ({type(fact).__name__})")
            continue
        facts[address] = fact
        problems += [
            f"worker {address} ({fact['host']}) {why}" for why in fact_problems(fact, expected, unsandboxed)
        ]
    if problems:
        error = SandboxUnavailable if all("has no sandbox" in p for p in problems) else ClusterRefused
        raise error("refusing to grade on this cluster: " + "; ".join(problems))
    if not facts:
        raise ClusterRefused("no Dask worker answered the pre-flight check")
    threads = sum(client.nthreads().values())
    log(
        f"Dask: {len(facts)} worker(s), {threads} thread(s); each has its sandbox, the course's data and code "
        f"{expected['code']}"
    )
    return facts


# --------------------------------------------------------------------------- what travels


def zip_folder(folder: Path) -> bytes:
    """A folder's files as a zip (relative names; symbolic links and sockets left out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            if any(parent.is_symlink() for parent in path.relative_to(folder).parents if str(parent) != "."):
                continue
            name = path.relative_to(folder).as_posix() + ("/" if path.is_dir() else "")
            if path.is_dir():
                archive.writestr(name, b"")
            else:
                archive.write(path, name)
    return buffer.getvalue()


def unzip_into(data: bytes, folder: Path) -> None:
    """Unpack a :func:`zip_folder` archive into ``folder`` (zipfile drops absolute and ``..`` names)."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)


def course_settings_text(course: Course) -> str:
    """The course's nbgrader settings, evaluated here, as a config file of plain values: the worker
    needs neither the instructor's environment nor their folders to read it."""
    config = load_config(course.root)
    lines = [
        "# The course's nbgrader settings, as evaluated on the instructor's machine.",
        "c = get_config()  # noqa: F821",
    ]
    for section in sorted(config):
        for key in sorted(config[section]):
            if (section, key) in _LOCAL_SETTINGS or section == "Exchange":
                continue
            value = config[section][key]
            value = [_importable(v) for v in value] if isinstance(value, list) else _importable(value)
            text = repr(value)
            try:
                ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ClusterRefused(
                    f"the setting {section}.{key} = {text[:80]} is not a plain value, so it "
                    "cannot be sent to a Dask worker; write it as one (e.g. an import path)"
                ) from None
            lines.append(f"c.{section}.{key} = {text}")
    return "\n".join(lines) + "\n"


def _importable(value):
    return f"{value.__module__}.{value.__qualname__}" if isinstance(value, type) else value


def template_gradebook(snapshot: Path, target: Path) -> Path:
    """A copy of the gradebook ``snapshot`` with the course's assignments and no learner at all."""
    with sqlite3.connect(snapshot) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    unknown = tables - KNOWN_TABLES
    if unknown or not set(STUDENT_TABLES) <= tables:
        raise ClusterRefused(
            f"unexpected gradebook schema (tables {sorted(unknown) or sorted(tables)}): "
            "this nbgrader version's gradebook cannot be trimmed for the workers"
        )
    shutil.copyfile(snapshot, target)
    db = sqlite3.connect(target)
    try:
        for table in reversed(STUDENT_TABLES):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        db.commit()
        db.execute("VACUUM")  # deleted rows leave no trace in the file's free pages
    finally:
        db.close()
    return target


def student_gradebook(template: Path, snapshot: Path, student: str, target: Path) -> bytes:
    """``template`` plus ``student``'s own rows from ``snapshot``: the gradebook a worker grades with."""
    shutil.copyfile(template, target)
    db = sqlite3.connect(target)
    try:
        db.execute("ATTACH DATABASE ? AS full", (str(snapshot),))
        assignments = "SELECT id FROM full.submitted_assignment WHERE student_id = :s"
        notebooks = f"SELECT id FROM full.submitted_notebook WHERE assignment_id IN ({assignments})"
        for table, where in (
            ("student", "id = :s"),
            ("submitted_assignment", "student_id = :s"),
            ("submitted_notebook", f"assignment_id IN ({assignments})"),
            ("grade", f"notebook_id IN ({notebooks})"),
            ("comment", f"notebook_id IN ({notebooks})"),
        ):
            db.execute(
                f"INSERT INTO main.{table} SELECT * FROM full.{table} WHERE {where}",  # noqa: S608
                {"s": student},
            )
        db.commit()
        db.execute("DETACH DATABASE full")
    finally:
        db.close()
    data = target.read_bytes()
    target.unlink()
    return data


# --------------------------------------------------------------------------- on the worker

_POOL: queue.SimpleQueue | None = None
_POOL_LOCK = threading.Lock()
_SCRATCH: Path | None = None


def _worker_scratch() -> Path:
    """This worker process's own scratch folder (its grading workers' working folder and logs), inside
    the Dask worker's local directory: its nanny removes that when the worker process ends, even killed
    mid-task, so no learner's files stay behind on the machine."""
    from distributed import get_worker

    global _SCRATCH
    with _POOL_LOCK:
        if _SCRATCH is None or not _SCRATCH.is_dir():
            try:
                parent = get_worker().local_directory
            except ValueError:  # not in a Dask worker (called directly): the system's temporary folder
                parent = None
            _SCRATCH = Path(tempfile.mkdtemp(prefix="course-grade-dask-", dir=parent))
            atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
        return _SCRATCH


@contextlib.contextmanager
def _grading_worker():
    """A long-lived nbgrader process of this Dask worker (one per task running at once, kept between
    tasks: nbgrader is imported once, not once per submission)."""
    from autograder.grading.worker import GradingWorker

    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = queue.SimpleQueue()
    try:
        worker = _POOL.get_nowait()
    except queue.Empty:
        base = _worker_scratch()
        # GradingWorker only needs a working folder that outlives every task (the root of a course object)
        worker = GradingWorker(
            Course(root=base, config_file=base / "nbgrader_config.py", coursedir=None),
            base / f"grading-worker-{uuid.uuid4().hex[:8]}.log",
        )
    try:
        yield worker
    finally:
        _POOL.put(worker)


def grade_on_worker(job: dict) -> dict:
    """Grade one submission on this (Dask worker's) machine: the task :func:`grade_on_cluster` sends.

    ``job`` carries the assignment, the student, the course's settings (text), the source and the
    submission (zips), the student's gradebook (bytes), the limits and whether to run unsandboxed. Returns
    :func:`~autograder.grading.pipeline.grade_in_private_course`'s raw results, with the autograded folder
    as a zip (``autograded_zip``) in place of a path.
    """
    from autograder.grading.pipeline import grade_in_private_course

    unsandboxed = bool(job["unsandboxed"])
    problems = fact_problems(_my_facts(), job["expected"], unsandboxed)
    if problems:  # a worker that joined after the pre-flight, or changed since: refuse, never grade otherwise
        error = SandboxUnavailable if all("has no sandbox" in p for p in problems) else ClusterRefused
        raise error(f"the Dask worker on {socket.gethostname()} " + "; ".join(problems))
    assignment, student = job["assignment"], job["student"]
    with tempfile.TemporaryDirectory(prefix=f"grade-{student}-", dir=_worker_scratch()) as tmp:
        mini = Path(tmp) / "course"
        unzip_into(job["source_zip"], mini / "source" / assignment)
        unzip_into(job["submission_zip"], mini / "submitted" / student / assignment)
        gradebook = mini / "gradebook.db"
        gradebook.write_bytes(job["gradebook"])
        (mini / "course_settings.py").write_text(job["settings"])
        (mini / "nbgrader_config.py").write_text(
            # an absolute path: traitlets resolves a relative one against the file that was loaded first
            f"c = get_config()  # noqa: F821\nload_subconfig({str(mini / 'course_settings.py')!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(mini)!r}\nc.CourseDirectory.source_directory = 'source'\n"
            "c.CourseDirectory.submitted_directory = 'submitted'\n"
            f"c.CourseDirectory.db_url = {'sqlite:///' + str(gradebook)!r}\n"
        )
        course = load_course(mini)
        limits = SandboxLimits(**job["limits"])
        held_out = ("", "")
        if job.get("held_out_csv"):  # the private held-out file stays outside the sandbox, with the checker
            private_csv = Path(tmp) / "held-out.csv"
            private_csv.write_bytes(job["held_out_csv"])
            held_out = (str(private_csv), job.get("held_out_sha256") or "")
        with _grading_worker() as worker:
            raw = grade_in_private_course(
                course,
                assignment,
                student,
                Path(tmp) / "private",
                limits,
                unsandboxed,
                gradebook,
                worker=worker,
                held_out=held_out,
            )
        if raw["notebooks"] and len(raw["reports"]) < len(raw["notebooks"]):
            # fail closed: every notebook nbgrader graded must have been run by the sandbox's execute step
            raise RuntimeError(
                f"no sandbox report for {student}'s notebooks on {socket.gethostname()}: the "
                "course's settings did not put SandboxedExecute in place there"
            )
        autograded = Path(raw.pop("private")) / "autograded" / student / assignment
        raw["autograded_zip"] = zip_folder(autograded) if autograded.is_dir() else None
    raw["worker"] = {"host": socket.gethostname(), "pid": os.getpid()}
    return raw


# --------------------------------------------------------------------------- on the instructor's machine


def grade_on_cluster(
    cluster,
    course: Course,
    assignment: str,
    runnable: Iterable[tuple[str, list[str]]],
    scratch: Path,
    snapshot: Path,
    limits: SandboxLimits,
    unsandboxed: bool,
    *,
    held_out: tuple[str, str] = ("", ""),
    log: Callable[[str], None] = print,
) -> Iterator[tuple[str, list[str], concurrent.futures.Future]]:
    """Grade ``runnable`` (``(student, notes)`` pairs) on ``cluster`` (an address, ``local:N`` or a
    ``distributed.Client``); yield ``(student, notes, future)`` once per student, as each finishes, where
    ``future.result()`` is what :func:`~autograder.grading.pipeline.grade_in_private_course` returns
    locally (its ``private`` folder, under ``scratch``, holds the autograded files) or raises why the
    submission could not be graded. The caller merges each result into the gradebook.

    ``held_out`` is the private held-out file and its SHA-256 (or empty): its bytes travel with each task
    and are written to the worker's scratch folder, outside the sandbox, where the checker reads them."""
    from distributed import as_completed

    runnable = list(runnable)
    if not runnable:
        return
    with contextlib.ExitStack() as stack:
        client = (
            cluster if not isinstance(cluster, str) else stack.enter_context(open_client(cluster, log=log))
        )
        preflight(client, unsandboxed, log=log)
        template = template_gradebook(snapshot, scratch / "gradebook-template.db")
        shared = {
            "assignment": assignment,
            "settings": course_settings_text(course),
            "source_zip": zip_folder(course.source(assignment)),
            "limits": asdict(limits),
            "unsandboxed": unsandboxed,
            "expected": expected_facts(),
            "held_out_csv": Path(held_out[0]).read_bytes() if held_out[0] else None,
            "held_out_sha256": held_out[1],
        }
        batch = uuid.uuid4().hex[:8]
        pending = list(reversed(runnable))
        notes_of = dict(runnable)
        window = max(2, IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values())))
        students_of: dict = {}

        def submit_next() -> object | None:
            if not pending:
                return None
            student, _notes = pending.pop()
            job = dict(
                shared,
                student=student,
                submission_zip=zip_folder(course.folder("submitted", student, assignment)),
                gradebook=student_gradebook(template, snapshot, student, scratch / f"gradebook-{student}.db"),
            )
            future = client.submit(
                grade_on_worker,
                job,
                key=f"course-grade-{assignment}-{student}-{batch}",
                pure=False,
                retries=RETRIES,
            )
            students_of[future.key] = student
            return future

        def failed(why: BaseException) -> concurrent.futures.Future:
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_exception(why)
            return future

        done: set[str] = set()
        running = as_completed()
        try:
            for _ in range(window):
                following = submit_next()
                if following is not None:
                    running.add(following)
            for future in running:
                student = students_of.pop(future.key)
                if student in done:  # never merged twice; cannot happen with one future per student
                    raise RuntimeError(f"a second result for {student} came back from the cluster")
                done.add(student)
                result: concurrent.futures.Future = concurrent.futures.Future()
                try:
                    raw = future.result()
                    private = scratch / student
                    if private.exists():
                        shutil.rmtree(private)
                    if raw.get("autograded_zip"):
                        unzip_into(raw.pop("autograded_zip"), private / "autograded" / student / assignment)
                    raw["private"] = str(private)
                    result.set_result(raw)
                except Exception as error:  # noqa: BLE001 - every failure becomes this student's outcome
                    result = failed(_explain(error))
                finally:
                    future.release()
                following = submit_next()
                if following is not None:
                    running.add(following)
                yield student, notes_of[student], result
        except (
            OSError,
            RuntimeError,
        ) as error:  # the cluster itself went away: what is left is failed, not lost
            if isinstance(error, RuntimeError) and "second result" in str(error):
                raise
            log(f"Dask: the cluster failed mid-batch ({type(error).__name__}: {error})")
            lost = error
        else:
            lost = RuntimeError("the cluster returned no result for it")
        for student, notes in runnable:
            if student not in done:
                done.add(student)
                yield student, notes, failed(RuntimeError(f"not graded: {lost}"))


def _explain(error: BaseException) -> BaseException:
    """A failure of the cluster, in the words of the outcome's reason."""
    from distributed.scheduler import KilledWorker

    if isinstance(error, KilledWorker):
        return RuntimeError(
            f"the Dask worker grading it died each time it was tried ({error}); "
            "it was not graded: regrade it with --student"
        )
    return error
