"""The instructor's grading pipeline: every submission graded in a sandbox, in parallel, into one gradebook.

Design (why not simply ``nbgrader autograde``): nbgrader grades one submission
after another, and several ``nbgrader autograde --student=X`` processes on one
SQLite gradebook race for its write lock ("database is locked"). Here each
submission is graded by nbgrader's own ``Autograde`` converter (what
``nbgrader autograde`` and formgrader run, with the course's
``nbgrader_config.py``) in a private copy of the course (the assignment's
source folder, that one submission and a snapshot of the gradebook), so
workers share no file at all. The converter runs in a few long-lived worker
processes (:class:`GradingWorker`, one per parallel slot), which import
nbgrader once instead of once per submission; student code runs only inside
:mod:`autograder.grading.sandbox`, because ``nbgrader_config.py`` replaces nbgrader's
execute step. When a submission is done, the main process (the only writer of
the real gradebook) copies its autograde results -- scores, auto comments,
"needs manual grading" flags, timestamp, late penalty -- into the course
gradebook with ``nbgrader.api.Gradebook``, and its ``autograded/`` folder
into the course. Grades are therefore those of serial ``nbgrader autograde``
(the tests compare them with a real serial run), and a crash, hang or
malformed file in one submission cannot touch another one nor the gradebook;
a worker that dies or overruns is killed and replaced.

Nothing is lost silently: each submission ends as one :class:`Outcome` --
graded (maybe with notes, e.g. "kernel died at cell 7"), or failed with a
reason (invalid JSON, wrong file name, nbgrader error) -- recorded in
``grading/<assignment>/results.json`` and in the CSV export, where every
student x assignment has a score or a reason.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import datetime
import json
import os
import queue
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder.grading import late
from autograder.grading.config import (
    Course,
    SandboxLimits,
    allow_unsandboxed_from_env,
    load_course,
    nbgrader_env,
)
from autograder.grading.execute import REPORT_NAME, GradingFailure, held_out_problem, preflight
from autograder.grading.integrity import cell_problems
from autograder.grading.sandbox import refusal, sandbox_status
from autograder.grading.worker import GradingWorker

__all__ = ["Course", "Outcome", "autograde", "export_grades", "inspect_submission", "load_course"]

EXPORT_COLUMNS = [
    "student_id",
    "assignment",
    "score",
    "max_score",
    "status",
    "reason",
    "sandboxed",
    "timestamp",
    "due",
    "seconds_late",
    "late_penalty",
    "final_score",
]  # the last four: autograder.grading.late


# --------------------------------------------------------------------------- the course


def nbgrader(
    course: Course,
    *args: str,
    cwd: Path | None = None,
    timeout: float | None = None,
    log_file: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader <args>`` for ``course`` (its config file, this interpreter)."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    done = subprocess.run(
        cmd,
        cwd=cwd or course.root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nbgrader_env(),
        start_new_session=True,
    )
    if log_file is not None:
        log_file.write_text(f"$ {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    return done


def assignment_notebooks(course: Course, assignment: str) -> dict[str, dict[str, tuple[str, float]]] | None:
    """``{notebook: {grade_id: (cell_type, max_score)}}`` from the gradebook, or None if not there."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            return None
        return {
            nb.name: {g.name: (g.cell_type, float(g.max_score)) for g in nb.grade_cells}
            for nb in record.notebooks
        }


def generate_into_scratch(course: Course, assignment: str) -> subprocess.CompletedProcess:
    """``nbgrader generate_assignment --force`` into a scratch release folder: the gradebook takes the source's
    current cells (and their points), and nothing is published to learners."""
    with tempfile.TemporaryDirectory(prefix="course-grade-generate-") as scratch:
        return nbgrader(
            course,
            "generate_assignment",
            assignment,
            "--force",
            f"--CourseDirectory.release_directory={scratch}",
        )


def ensure_assignment(course: Course, assignment: str) -> dict:
    """Make sure the gradebook knows ``assignment`` (generate it, into a scratch release folder, if not)."""
    notebooks = assignment_notebooks(course, assignment)
    if notebooks:
        return notebooks
    if not course.source(assignment).is_dir():
        raise FileNotFoundError(f"no source folder for {assignment!r} at {course.source(assignment)}")
    done = generate_into_scratch(course, assignment)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{done.stderr[-2000:]}")
    notebooks = assignment_notebooks(course, assignment)
    if not notebooks:
        raise RuntimeError(f"the gradebook still has no notebooks for {assignment!r}")
    return notebooks


def submitted_students(course: Course, assignment: str) -> list[str]:
    base = Path(course.coursedir.format_path(course.coursedir.submitted_directory, ".", "."))
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / assignment).is_dir()
    )


# --------------------------------------------------------------------------- one submission


@dataclass
class Outcome:
    """What became of one student's submission of one assignment."""

    student: str
    assignment: str
    status: str = "graded"  # graded | failed
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    score: float | None = None
    max_score: float | None = None
    sandboxed: bool = True
    seconds: float = 0.0
    execution_seconds: float = 0.0
    peak_memory_mb: float = 0.0  # the sandbox's largest process (the kernel)
    grader_memory_mb: float = 0.0  # the worker's nbgrader process
    checker_memory_mb: float = 0.0  # the checker that ran the test cells
    reports: list[dict] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.status != "graded":
            return f"FAILED: {self.reason}"
        text = f"{self.score:g} / {self.max_score:g}"
        return text + (f"  ({'; '.join(self.notes)})" if self.notes else "")


def inspect_submission(
    course: Course, assignment: str, student: str, notebooks: dict
) -> tuple[str | None, list[str]]:
    """Check a submission's files and grade cells before grading: ``(fatal reason or None, notes)``."""
    folder = course.folder("submitted", student, assignment)
    found = sorted(p.name for p in folder.glob("*.ipynb"))
    notes: list[str] = []
    present = 0
    for name, cells in notebooks.items():
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            notes.append(f"no {name}.ipynb" + (f" (found: {', '.join(found)})" if found else ""))
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:  # invalid JSON, not a notebook, unreadable
            return (
                f"{name}.ipynb is not a readable notebook ({type(error).__name__}: {str(error)[:120]})",
                notes,
            )
        present += 1
        problems = cell_problems(nb, expected=cells)
        fatal = [p.note for p in problems if p.fatal]
        if fatal:
            return f"{name}.ipynb cannot be graded as submitted: " + "; ".join(fatal), notes
        notes += [p.note for p in problems]
    if present == 0:
        return "wrong file name: " + ("; ".join(notes) or "no notebook submitted"), notes
    return None, notes


def _snapshot_gradebook(course: Course, target: Path) -> None:
    source = course.db_url
    if not source.startswith("sqlite:///"):
        raise RuntimeError("parallel grading needs an SQLite gradebook (db_url sqlite:///...)")
    with sqlite3.connect(source[len("sqlite:///") :]) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def grade_in_private_course(
    course: Course,
    assignment: str,
    student: str,
    workdir: Path,
    limits: SandboxLimits,
    unsandboxed: bool,
    gradebook_snapshot: Path,
    worker: GradingWorker,
    held_out: tuple[str, str] = ("", ""),
) -> dict:
    """nbgrader's autograde of one submission in a private copy of the course, in ``worker`` (a long-lived
    grading process that runs nbgrader's own Autograde converter). Returns raw results."""
    private = workdir / student
    if private.exists():
        shutil.rmtree(private)
    private.mkdir(parents=True)
    src_rel = Path(course.coursedir.source_directory)
    shutil.copytree(course.source(assignment), private / src_rel / assignment)
    shutil.copytree(
        course.folder("submitted", student, assignment),
        private / "submitted" / student / assignment,
        symlinks=False,
        ignore_dangling_symlinks=True,
    )
    db = private / "gradebook.db"
    shutil.copyfile(gradebook_snapshot, db)
    (private / "nbgrader_config.py").write_text(
        "# A private copy of the course for grading one submission: the course's settings, this root.\n"
        f"c = get_config()  # noqa: F821\nload_subconfig({str(course.config_file)!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(private)!r}\n"
    )
    settings = {
        "CourseDirectory": {
            "root": str(private),
            "submitted_directory": "submitted",
            "autograded_directory": "autograded",
            "db_url": f"sqlite:///{db}",
        },
        "SandboxedExecute": {
            "timeout": limits.cell_timeout,
            "notebook_timeout": limits.notebook_timeout,
            "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes,
            "unsandboxed": unsandboxed,
            "preflight": False,  # the batch ran it already
            "held_out": held_out[0],
            "held_out_sha256": held_out[1],
        },
    }
    started = time.monotonic()
    budget = (limits.startup_timeout + limits.notebook_timeout + 2 * 10) * max(
        1, _count_notebooks(course, assignment)
    ) + 120
    returncode, log = worker.autograde(private, assignment, student, settings, timeout=budget)
    result = {
        "student": student,
        "returncode": returncode,
        "log": log[-4000:],
        "seconds": round(time.monotonic() - started, 3),
        "private": str(private),
    }
    result.update(_read_private_results(private, db, assignment, student))
    return result


def _count_notebooks(course: Course, assignment: str) -> int:
    return len(list(course.source(assignment).glob("*.ipynb")))


def _read_private_results(private: Path, db: Path, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    results: dict = {"notebooks": {}, "timestamp": None, "reports": []}
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return results
        results["timestamp"] = submission.timestamp.isoformat() if submission.timestamp else None
        for nb in submission.notebooks:
            results["notebooks"][nb.name] = {
                "late_penalty": nb.late_submission_penalty,
                "grades": {g.name: [g.auto_score, g.needs_manual_grade] for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
            }
    folder = private / "autograded" / student / assignment
    results["autograded"] = sorted(p.stem for p in folder.glob("*.ipynb"))
    for report in sorted(folder.glob(REPORT_NAME.format(notebook="*"))):
        try:
            results["reports"].append(json.loads(report.read_text()))
        except ValueError:
            pass
    return results


def merge_into_gradebook(course: Course, assignment: str, student: str, raw: dict) -> tuple[float, float]:
    """Copy one worker's autograde results into the course gradebook (the main process is its only writer);
    return the submission's ``(score, max_score)``, read in the same session (one gradebook opening each)."""
    from nbgrader.api import Gradebook

    timestamp = datetime.datetime.fromisoformat(raw["timestamp"]) if raw.get("timestamp") else None
    with warnings.catch_warnings(), Gradebook(course.db_url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush chatter inside nbgrader's API
        gb.update_or_create_student(student)
        if timestamp is not None:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        for name, record in raw["notebooks"].items():
            notebook = gb.find_submission_notebook(name, assignment, student)
            notebook.late_submission_penalty = record["late_penalty"]
            for grade in notebook.grades:
                if grade.name in record["grades"]:
                    grade.auto_score, grade.needs_manual_grade = record["grades"][grade.name]
            for comment in notebook.comments:
                if comment.name in record["comments"]:
                    comment.auto_comment = record["comments"][comment.name]
        gb.db.commit()
        submission = gb.find_submission(assignment, student)
        scores = float(submission.score), float(submission.max_score)
    private_autograded = Path(raw["private"]) / "autograded" / student / assignment
    target = course.folder("autograded", student, assignment)
    if private_autograded.is_dir():
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(private_autograded, target)
    return scores


def _score_from_gradebook(course: Course, assignment: str, student: str) -> tuple[float | None, float | None]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None, None
        return float(submission.score), float(submission.max_score)


# --------------------------------------------------------------------------- the batch


#: The file in a grading run's scratch folder that names the process it belongs to (its host and pid, and
#: the process's start time, so that a later process given the same pid is not taken for it).
SCRATCH_OWNER = "owner"


def _process_identity(pid: int) -> str | None:
    """``"<host> <pid> <start time>"`` for a running process, None if there is none with that pid. Start
    time is in clock ticks since boot (``/proc/<pid>/stat``); where there is no ``/proc``, the pid's
    existence alone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat.rpartition(")")[2].split()[19]  # field 22; the fields after the name start at 3
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        started = "?"
    except (OSError, IndexError):
        return None
    return f"{socket.gethostname()} {pid} {started}"


def sweep_stale_scratch(log: Callable[[str], None] = print) -> list[Path]:
    """Remove the scratch folders (with learners' submissions in them) that ``course-grade`` runs on this
    machine left behind when they were killed (``kill -9``, the machine's OOM killer): those in the
    system's temporary folder whose owner, of this user and this host, no longer runs. A folder with no
    owner file, or an unreadable one, is not a grading run's and stays; so do those of other users and
    hosts. Returns the folders removed."""
    removed = []
    host = socket.gethostname()
    for folder in Path(tempfile.gettempdir()).glob("course-grade-*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            owner = (folder / SCRATCH_OWNER).read_text().split()
        except OSError:
            continue
        if len(owner) != 3 or owner[0] != host or not owner[1].isdigit():
            continue
        if _process_identity(int(owner[1])) == " ".join(owner):
            continue  # still grading
        shutil.rmtree(folder, ignore_errors=True)
        log(f"removed {folder}, left by a grader (pid {owner[1]}) that was killed")
        removed.append(folder)
    return removed


@contextlib.contextmanager
def grading_scratch(assignment: str, log: Callable[[str], None] = print):
    """A grading run's scratch folder (the gradebook's snapshot, the workers' logs, their temporary
    folders, each submission's private course), removed when the run ends; one that a killed run left
    behind is removed by the next run on this machine (:func:`sweep_stale_scratch`)."""
    sweep_stale_scratch(log)
    with tempfile.TemporaryDirectory(prefix=f"course-grade-{assignment}-") as scratch:
        path = Path(scratch)
        owner = path / f".{SCRATCH_OWNER}"
        owner.write_text(f"{_process_identity(os.getpid())}\n")
        owner.rename(path / SCRATCH_OWNER)  # whole or absent, for a sweep that reads it meanwhile
        yield path


def autograde(
    course: Course,
    assignment: str,
    *,
    workers: int | None = None,
    unsandboxed: bool | None = None,
    students: Iterable[str] | None = None,
    limits: SandboxLimits | None = None,
    held_out: str | None = None,
    held_out_sha256: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    cluster=None,
) -> list[Outcome]:
    """Grade every submission of ``assignment`` (or ``students``) in parallel; return one Outcome each.

    ``held_out`` (default: the course configuration's ``SandboxedExecute.held_out``, or
    ``COURSE_HELD_OUT``) is a private labeled held-out CSV that replaces the public split in every
    hidden test; it stays with the checker, outside the sandbox.

    ``cluster`` (a Dask scheduler's address, ``local:N`` or a ``distributed.Client``) sends each submission
    to a Dask worker instead of this machine's worker pool (:mod:`autograder.grading.cluster`)."""
    unsandboxed = allow_unsandboxed_from_env() if unsandboxed is None else unsandboxed
    ok, why = sandbox_status()
    if not unsandboxed and not ok:
        raise refusal(why)
    if unsandboxed:
        banner = "!" * 78
        log(
            f"{banner}\nUNSANDBOXED GRADING: student code runs WITHOUT isolation "
            f"({'sandbox available but not used' if ok else why}).\n{banner}"
        )
    limits = limits or SandboxLimits.from_env()
    # One trivial notebook through the real sandbox, runner and checker: a broken set-up refuses the
    # whole batch here, before any learner's notebook is touched (never a class of zeros).
    ok, why = preflight(limits, sandboxed=not unsandboxed)
    if not ok:
        raise GradingFailure(
            f"refusing to grade {assignment}: the grading machinery does not work here ({why})"
        )
    configured = course.coursedir.config.get("SandboxedExecute", {})
    held_out = (
        held_out
        if held_out is not None
        else configured.get("held_out", os.environ.get("COURSE_HELD_OUT", ""))
    )
    held_out_sha256 = (
        held_out_sha256
        if held_out_sha256 is not None
        else configured.get("held_out_sha256", os.environ.get("COURSE_HELD_OUT_SHA256", ""))
    )
    held_out = str(Path(held_out).resolve()) if held_out else ""
    if problem := held_out_problem(held_out, held_out_sha256):
        raise GradingFailure(f"refusing to grade {assignment}: {problem}")
    if held_out:
        log(f"hidden tests grade on the private held-out set {held_out}")
    workers = max(1, workers or os.cpu_count() or 1)
    notebooks = ensure_assignment(course, assignment)
    todo = sorted(students) if students is not None else submitted_students(course, assignment)
    outcomes: dict[str, Outcome] = {}
    runnable: list[tuple[str, list[str]]] = []
    for student in todo:
        try:
            fatal, notes = inspect_submission(course, assignment, student, notebooks)
        except FileNotFoundError:
            fatal, notes = "no submission folder", []
        if fatal:
            outcomes[student] = Outcome(
                student, assignment, status="failed", reason=fatal, notes=notes, sandboxed=not unsandboxed
            )
        else:
            runnable.append((student, notes))
    bar = _progress(len(todo), assignment) if progress else None
    if bar is not None:
        bar.update(len(todo) - len(runnable))
    with grading_scratch(assignment, log) as scratch_path:
        snapshot = scratch_path / "gradebook-snapshot.db"
        _snapshot_gradebook(course, snapshot)
        if cluster is not None:  # Dask workers grade them; this process merges each result, once per student
            from autograder.grading.cluster import grade_on_cluster

            for student, notes, result in grade_on_cluster(
                cluster,
                course,
                assignment,
                runnable,
                scratch_path,
                snapshot,
                limits,
                unsandboxed,
                held_out=(held_out, held_out_sha256),
                log=log,
            ):
                outcomes[student] = _finish(course, assignment, student, notes, result, unsandboxed)
                shutil.rmtree(scratch_path / student, ignore_errors=True)
                if bar is not None:
                    bar.update(1)
            runnable = []  # the local pool below has nothing left to grade
        idle: queue.Queue[GradingWorker] = queue.Queue()
        for number in range(min(workers, max(1, len(runnable)))):
            idle.put(GradingWorker(course, scratch_path / f"worker-{number}.log"))

        def grade(student: str) -> dict:
            worker = idle.get()
            try:
                return grade_in_private_course(
                    course,
                    assignment,
                    student,
                    scratch_path,
                    limits,
                    unsandboxed,
                    snapshot,
                    worker=worker,
                    held_out=(held_out, held_out_sha256),
                )
            finally:
                idle.put(worker)

        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [idle.get().stop() for _ in range(idle.qsize())])
            pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
            futures = {pool.submit(grade, student): (student, notes) for student, notes in runnable}
            for future in concurrent.futures.as_completed(futures):
                student, notes = futures[future]
                outcomes[student] = _finish(course, assignment, student, notes, future, unsandboxed)
                shutil.rmtree(scratch_path / student, ignore_errors=True)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    ordered = [outcomes[s] for s in todo]
    _write_results(course, assignment, ordered, unsandboxed, workers, limits)
    return ordered


def _finish(
    course: Course, assignment: str, student: str, notes: list[str], future, unsandboxed: bool
) -> Outcome:
    outcome = Outcome(student, assignment, notes=list(notes), sandboxed=not unsandboxed)
    try:
        raw = future.result()
    except Exception as error:  # the worker itself failed: record it, keep going
        outcome.status, outcome.reason = "failed", f"grader error: {type(error).__name__}: {error}"
        return outcome
    outcome.seconds = raw["seconds"]
    outcome.reports = raw.get("reports", [])
    for report in outcome.reports:
        outcome.execution_seconds += report.get("seconds", 0.0)
        outcome.peak_memory_mb = max(outcome.peak_memory_mb, report.get("peak_memory_mb", 0.0))
        outcome.grader_memory_mb = max(outcome.grader_memory_mb, report.get("grader_peak_memory_mb", 0.0))
        outcome.checker_memory_mb = max(outcome.checker_memory_mb, report.get("checker_memory_mb", 0.0))
        outcome.sandboxed = outcome.sandboxed and bool(report.get("sandboxed", True))
        if report.get("status") != "ok":
            outcome.notes.append(f"{report.get('notebook')}: {report.get('reason')}")
        outcome.notes.extend(f"{report.get('notebook')}: {problem}" for problem in report.get("problems", []))
    missing = [name for name in raw["notebooks"] if name not in raw.get("autograded", [])]
    if not raw["notebooks"] or missing:  # nbgrader removes what it failed to grade: no score for it
        outcome.status = "failed"
        outcome.reason = failure_reason(raw["log"])
        return outcome
    try:
        scores = merge_into_gradebook(course, assignment, student, raw)
    except Exception as error:
        outcome.status, outcome.reason = "failed", f"could not record grades: {type(error).__name__}: {error}"
        return outcome
    if raw["returncode"] != 0:
        outcome.notes.append("nbgrader reported an error for part of this submission (see grading log)")
    outcome.score, outcome.max_score = scores
    return outcome


def failure_reason(log: str) -> str:
    """Why nbgrader could not grade a submission, from its log: the grader's own words where it gave them."""
    for marker in ("GradingFailure: ", "SubmissionDamaged: "):
        for line in reversed(log.splitlines()):
            if marker in line:
                return line[line.rindex(marker) + len(marker) :].strip()[:500]
    errors = [line for line in log.splitlines() if "ERROR" in line or "rror" in line]
    tail = " | ".join(errors)[-300:]
    return f"nbgrader could not grade it: {tail or log[-300:] or 'no log'}"


def _progress(total: int, assignment: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the course's requirements
        return None
    return tqdm(total=total, desc=f"grading {assignment}", unit="submission", file=sys.stderr)


def _write_results(
    course: Course,
    assignment: str,
    outcomes: list[Outcome],
    unsandboxed: bool,
    workers: int,
    limits: SandboxLimits,
) -> None:
    path = course.results_file(assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = load_results(course, assignment).get("students", {})
    for outcome in outcomes:
        previous[outcome.student] = {k: v for k, v in asdict(outcome).items() if k != "reports"}
    record = {
        "assignment": assignment,
        "graded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "sandboxed": not unsandboxed,
        "isolation": sandbox_status()[1] if not unsandboxed else "NONE (--unsandboxed)",
        "workers": workers,
        "limits": asdict(limits),
        "students": previous,
    }
    path.write_text(json.dumps(record, indent=1, sort_keys=True))


def load_results(course: Course, assignment: str) -> dict:
    path = course.results_file(assignment)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def summary_table(outcomes: list[Outcome]) -> str:
    """A plain-text table: one line per student, score/max or the reason."""
    if not outcomes:
        return "(no submissions)"
    width = max(len("student"), *(len(o.student) for o in outcomes))
    lines = [f"{'student':<{width}}  result", f"{'-' * width}  {'-' * 40}"]
    lines += [f"{o.student:<{width}}  {o.summary}" for o in outcomes]
    graded = [o for o in outcomes if o.status == "graded"]
    lines.append(
        f"{len(graded)} graded, {len(outcomes) - len(graded)} failed"
        + ("" if all(o.sandboxed for o in outcomes) else "  -- UNSANDBOXED")
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- export


def _waits_for_a_grader(submission) -> bool:
    """A cell worth points still waits for a grader. (nbgrader flags every task cell "needs manual grading",
    a mark scheme's 0-point task cell too, which no one grades: that one does not count.)"""
    return any(
        grade.needs_manual_grade and float(grade.max_score or 0) > 0
        for notebook in submission.notebooks
        for grade in notebook.grades
    )


def export_grades(course: Course, to: str | os.PathLike | None = None) -> list[dict]:
    """Every student x assignment, with a score or a reason; written as CSV to ``to`` if given."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        assignments = [a.name for a in gb.assignments]
        students = {s.id for s in gb.students}
        for assignment in assignments:
            students.update(submitted_students(course, assignment))
            students.update(load_results(course, assignment).get("students", {}))
        for assignment in assignments:
            results = load_results(course, assignment)
            records = results.get("students", {})
            max_score = float(gb.find_assignment(assignment).max_score)
            for student in sorted(students):
                record = records.get(student)
                row = {
                    "student_id": student,
                    "assignment": assignment,
                    "score": "",
                    "max_score": max_score,
                    "status": "",
                    "reason": "",
                    "sandboxed": "",
                    "timestamp": "",
                }
                try:
                    submission = gb.find_submission(assignment, student)
                except MissingEntry:
                    submission = None
                if record is not None:
                    row["sandboxed"] = "yes" if record.get("sandboxed", True) else "NO (unsandboxed)"
                if record is not None and record.get("status") == "failed":
                    row["status"], row["reason"] = "failed", record.get("reason", "")
                elif submission is not None:
                    row["score"] = float(submission.score)
                    row["timestamp"] = submission.timestamp.isoformat() if submission.timestamp else ""
                    row["status"] = "needs manual grading" if _waits_for_a_grader(submission) else "graded"
                    row["reason"] = "; ".join(record.get("notes", [])) if record else ""
                    if record is None:
                        row["sandboxed"] = "unknown (graded outside course-grade)"
                elif course.folder("submitted", student, assignment).is_dir():
                    row["status"], row["reason"] = "not graded", "submitted but not autograded yet"
                else:
                    row["status"], row["reason"] = "missing", "no submission"
                rows.append(row)
    late.annotate_rows(course, rows)  # due date, lateness, penalty and the score after it
    if to is not None:
        with open(to, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return rows
