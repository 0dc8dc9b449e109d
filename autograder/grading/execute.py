"""Grade-execute one notebook: the learner's cells in the sandbox, the test cells in the checker.

:func:`run_notebook` is nbgrader's execute step for this course (through :class:`SandboxedExecute`,
which ``nbgrader_config.py`` puts in place of nbgrader's ``Execute``) and ``course-check``'s::

    grader ── RunnerJob, commands ──▶ runner (in the sandbox) ──▶ the learner's kernel
       │   ◀── events: cells, check, rpc-reply ──┘
       └── CheckerJob, commands ──▶ checker (outside the sandbox): the test cells
           ◀── events: rpc, verdict ──┘

The runner executes the learner's cells one by one and stops at each test cell; the grader hands
that cell's source to the checker, relays the checker's questions to the kernel and their plain-data
answers back, and writes the checker's verdict into the test cell as its outputs, which nbgrader
then scores. The kernel never holds a test cell, so nothing the learner's code does in its kernel
(rebinding the helpers, hooks, display tricks, threads, patched libraries) can reach a check.

**An infrastructure failure is never a grade.** If the sandbox, the runner, the kernel or the
checker cannot start (no ``started`` event, no ``ready``), or the checker breaks down, the run
raises :class:`GradingFailure` with the cause: nbgrader records that submission as failed (its
autograded notebook is removed, no score is written) and goes on with the next one; ``course-grade``
reports it failed. Zeros come only from what the learner's code did once its kernel had started:
a cell that errs, a check that fails, a kernel that dies or overruns its limits.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder.grading.checker import setup_imports
from autograder.grading.config import SandboxLimits, allow_unsandboxed_from_env
from autograder.grading.forks import checker_process
from autograder.grading.limits import SandboxCgroup
from autograder.grading.protocol import (
    CHECK_NOTE,
    KERNEL_DIED,
    NOT_RUN,
    TIMED_OUT,
    WARM_KERNEL_ENDED,
    CheckerJob,
    RunnerJob,
    dumps,
    is_test_cell,
    loads,
)
from autograder.grading.runner import exit_reason
from autograder.grading.sandbox import (
    FILES_DIR,
    SandboxUnavailable,
    _fresh_uid,
    _prepare_dirs,
    _prlimit,
    _process_count,
    course_packages,
    import_path,
    refusal,
    sandbox_command,
    sandbox_env,
    sandbox_status,
)
from autograder.grading.sanitize import sanitize_notebook
from autograder.grading.warm import WarmKernels

__all__ = ["GradingFailure", "RunReport", "SandboxedExecute", "held_out_problem", "preflight", "run_notebook"]

#: Extra seconds the grader waits beyond a limit before it kills the sandbox itself.
GRACE_SECONDS = 10.0
#: Seconds the checker may take to start (its imports) before the run counts as failed.
CHECKER_STARTUP = 120.0
#: Where a notebook's grading record goes, beside the autograded notebook.
REPORT_NAME = ".grading-{notebook}.json"


class GradingFailure(RuntimeError):
    """The grading machinery could not grade this notebook (not the learner's doing): no grade."""


@dataclass
class RunReport:
    """What happened to one notebook: the grader's record, for the log and the export."""

    sandboxed: bool
    status: str = "ok"  # ok | kernel-died | cell-timeout | notebook-timeout | runner-error
    reason: str = ""
    cells_run: int = 0
    code_cells: int = 0
    checks: int = 0
    seconds: float = 0.0
    kernel_startup_seconds: float = 0.0
    cell_seconds: float = 0.0
    check_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    #: The checker's peak resident memory (a forked checker's includes the pages it shares with its server).
    checker_memory_mb: float = 0.0
    isolation: str = ""
    #: The notebook's cgroup: its memory limit for all processes together and CPU weight, or why there is none.
    cgroup: str = ""
    #: Whether the kernel was forked warm into the sandbox (:mod:`autograder.grading.warm`), and if one
    #: was wanted but the runner started its own, why.
    warm_kernel: bool = False
    warm_kernel_note: str = ""
    #: Cells the grader stopped, and checks that failed for a reason of the check's own.
    problems: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _test_source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _setup_sources(nb) -> list[str]:
    """Sources of the locked code cells that are neither answers nor tests (nbgrader restores them)."""
    from nbgrader.utils import is_locked, is_solution

    return [
        _test_source(c)
        for c in nb.cells
        if c.cell_type == "code" and is_locked(c) and not is_solution(c) and not is_test_cell(c)
    ]


def _python(module: str) -> list[str]:
    """This interpreter running ``module`` with only the course's bound packages added to its path."""
    return [sys.executable, "-s", "-P", "-m", module]


class _Process:
    """A child speaking JSON lines: a writer for its stdin, a line reader over its stdout. ``proc`` is a
    ``Popen`` started from ``cmd``, or one given (a checker forked by :mod:`autograder.grading.forks`)."""

    def __init__(self, cmd: list[str], *, env: dict | None, cwd: str | None, name: str, proc=None):
        self.name = name
        self.proc = proc or subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.buffer = b""
        self.closed = False
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._drain = threading.Thread(target=_drain, args=(self.proc.stderr, self.stderr_tail), daemon=True)
        self._drain.start()

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def send(self, message: dict) -> bool:
        try:
            self.proc.stdin.write(dumps(message))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def read_available(self) -> list[dict]:
        chunk = os.read(self.fileno(), 1 << 20)
        if not chunk:
            self.closed = True
            return []
        self.buffer += chunk
        events = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            try:
                events.append(loads(line))
            except ValueError:
                continue
        return events

    def tail(self) -> str:
        return " | ".join(list(self.stderr_tail)[-3:]) or "no message"

    def kill(self) -> None:
        _kill_group(self.proc)
        if self.proc.poll() is None:  # a forked checker that has not made its own group yet
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGKILL)


def run_notebook(
    nb: nbformat.NotebookNode,
    source_dir: str | os.PathLike | None,
    limits: SandboxLimits,
    *,
    sandboxed: bool = True,
    held_out: str = "",
    held_out_sha256: str = "",
    log=None,
) -> tuple[nbformat.NotebookNode, RunReport]:
    """Execute ``nb`` (its learner cells in a fresh sandbox whose working folder is a copy of
    ``source_dir``, its test cells in the checker); return the executed notebook and a :class:`RunReport`.

    Never raises because of what the notebook does. Raises :class:`SandboxUnavailable` if
    ``sandboxed`` and no sandbox can be made here, and :class:`GradingFailure` if the machinery
    could not grade it.
    """
    if sandboxed:
        ok, why = sandbox_status()
        if not ok:
            raise refusal(why)
    report = RunReport(sandboxed=sandboxed)
    report.isolation = (
        sandbox_status()[1] if sandboxed else "NONE: unsandboxed run (separate process, rlimits only)"
    )
    executed = copy.deepcopy(nb)
    code_indices = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    tests = [i for i in code_indices if is_test_cell(executed.cells[i])]
    report.code_cells = len(code_indices)
    report.checks = len(tests)
    for_runner = copy.deepcopy(nb)
    for index in tests:  # the kernel's copy holds no test
        for_runner.cells[index].source = CHECK_NOTE
        for_runner.cells[index].outputs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-run-") as tmp:
        uid = _fresh_uid() if sandboxed else os.getuid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        if source_dir:
            _copy_working_files(Path(source_dir), work, uid if sandboxed else None)
        # all of the notebook's processes share one memory limit and one fair CPU weight (where cgroups work)
        setup = setup_imports(_setup_sources(nb))
        with SandboxCgroup.for_limits(limits, logger=log) as group:
            warm = None
            if WarmKernels.available(limits, sandboxed):
                warm = WarmKernels(setup, uid, limits, group.procs_files() if group.active else [])
            runner = _start_runner(
                for_runner, tests, work, etc, uid, limits, sandboxed, group, warm is not None
            )
            # the checker starts while the kernel does (a fork server's warm-up, the first time, too)
            try:
                checker = _start_checker(setup, held_out, held_out_sha256)
            except BaseException:
                runner.kill()
                _reap(runner.proc)
                raise
            session = None
            try:
                session = _Session(runner, checker, executed, limits, report, started, tests, warm)
                failure = session.follow()
            finally:
                if warm is not None:
                    warm.close()
                checker.kill()
                # a finished runner shuts its kernel down and reaps it (so its peak memory is counted)
                rusage_peak = _reap(
                    runner.proc, grace=15.0 if session is not None and session.finished else 0.0
                )
                checker.proc.wait()
            report.peak_memory_mb = max(report.peak_memory_mb, group.peak_memory_mb() or 0.0)
            out_of_memory = group.oom_kills() or 0
            report.cgroup = group.describe()
        report.peak_memory_mb = round(max(report.peak_memory_mb, rusage_peak / 1024), 1)
        if failure is not None and out_of_memory and failure[0] in ("kernel-died", "runner-error"):
            failure = (
                failure[0],
                f"{failure[1]} (the notebook's processes together exceeded their {limits.memory_mb} MB)",
            )
        if session.infrastructure is not None:
            raise GradingFailure(session.infrastructure)
        returned = session.returned
        if failure is None and len(returned) < len(code_indices):
            failure = ("runner-error", "the sandbox stopped before the end of the notebook: " + runner.tail())
        if failure is not None:
            report.status, report.reason = failure
            _mark_unfinished(executed, code_indices, returned, report.reason)
        report.cells_run = len(returned)
        for index in code_indices:
            for output in executed.cells[index].outputs:
                if output.get("output_type") == "error" and output.get("ename") == TIMED_OUT:
                    report.problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
        report.seconds = round(time.monotonic() - started, 3)
        report.cell_seconds = round(report.cell_seconds, 3)
        report.check_seconds = round(report.check_seconds, 3)
        if log is not None and report.status != "ok":
            log.warning("Notebook stopped early (%s): %s", report.status, report.reason)
    # learner HTML and JavaScript never reach formgrader or feedback as they were written
    sanitize_notebook(executed)
    return executed, report


def _start_checker(setup: str, held_out: str, held_out_sha256: str) -> _Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(
        {
            "PYTHONPATH": import_path(),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "agg",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    cmd = _python("autograder.grading.checker")
    checker = _Process(cmd, env=env, cwd=None, name="checker", proc=checker_process(cmd, env, setup))
    checker.send(CheckerJob(setup=setup, held_out=held_out, held_out_sha256=held_out_sha256).to_dict())
    return checker


def _start_runner(
    nb,
    tests: list[int],
    work: Path,
    etc: Path,
    uid: int,
    limits: SandboxLimits,
    sandboxed: bool,
    group: SandboxCgroup,
    warm_kernel: bool = False,
) -> _Process:
    inner = _python("autograder.grading.runner")
    if sandboxed:
        cmd = sandbox_command(work, limits, uid=uid, etc_dir=etc, inner=inner, cgroup=group)
        env = None
        cwd = None
    else:
        prlimit = _prlimit(limits, nproc_base=_process_count(os.getuid())) if shutil.which("prlimit") else []
        cmd = group.wrap(prlimit + inner)
        env = {k: v for k, v in sandbox_env(uid).items() if k not in {"HOME"}}
        env.update(
            {
                "HOME": str(work),
                "TMPDIR": str(work / ".tmp"),
                "JUPYTER_RUNTIME_DIR": str(work / ".tmp"),
                "IPYTHONDIR": str(work / ".tmp" / "ipython"),
                "MPLCONFIGDIR": str(work / ".tmp"),
                "JUPYTER_DATA_DIR": str(work / ".tmp"),
                "JUPYTER_CONFIG_DIR": str(work / ".tmp"),
                "XDG_CACHE_HOME": str(work / ".tmp"),
            }
        )
        (work / ".tmp").mkdir()
        cwd = str(work)
    runner = _Process(cmd, env=env, cwd=cwd, name="runner")
    job = RunnerJob(
        notebook=nb,
        cell_timeout=limits.cell_timeout,
        notebook_timeout=limits.notebook_timeout,
        startup_timeout=limits.startup_timeout,
        max_output_bytes=limits.max_output_bytes,
        files_from=FILES_DIR if sandboxed else "",
        packages={name: str(path) for name, path in course_packages().items()},
        test_cells=tests,
        warm_kernel=warm_kernel,
    )
    runner.send(job.to_dict())
    return runner


class _Session:
    """The grader's side of one run: follows the runner, relays between it and the checker, keeps time."""

    def __init__(
        self,
        runner: _Process,
        checker: _Process,
        executed,
        limits: SandboxLimits,
        report: RunReport,
        started: float,
        tests: list[int],
        warm: WarmKernels | None = None,
    ):
        self.runner, self.checker = runner, checker
        self.warm = warm
        self.executed, self.limits, self.report = executed, limits, report
        self.started = started
        self.tests = set(tests)
        self.returned: set[int] = set()
        self.finished = False
        self.infrastructure: str | None = None
        self.checker_ready = False
        self.kernel_started = False
        self.notebook_deadline: float | None = None
        self.cell_deadline: float | None = None
        self.current: int | None = None
        self.checking: int | None = None
        self.check_started = 0.0
        self.pending_check: int | None = None
        self.rpc_count = 0

    # -- the loop ----------------------------------------------------------------------------------

    def follow(self) -> tuple[str, str] | None:
        startup_deadline = self.started + self.limits.startup_timeout + GRACE_SECONDS
        checker_deadline = self.started + CHECKER_STARTUP
        while True:
            now = time.monotonic()
            if not self.kernel_started and now > startup_deadline:
                return self._infrastructure(
                    f"the kernel did not start within {self.limits.startup_timeout:g} s"
                )
            if not self.checker_ready and now > checker_deadline:
                return self._infrastructure(
                    f"the checker did not start within {CHECKER_STARTUP:g} s: " + self.checker.tail()
                )
            if self.notebook_deadline is not None and now > self.notebook_deadline:
                return (
                    "notebook-timeout",
                    f"the notebook ran longer than its {self.limits.notebook_timeout:g} s limit",
                )
            if self.cell_deadline is not None and now > self.cell_deadline:
                if self.checking is not None:
                    return self._check_overrun()
                return (
                    "cell-timeout",
                    f"cell {self.current} ran longer than {self.limits.cell_timeout:g} s and did "
                    "not stop when interrupted; the sandbox was killed",
                )
            sources = [p for p in (self.runner, self.checker) if not p.closed]
            ready, _, _ = select.select(sources, [], [], 0.5)
            for source in ready:
                events = source.read_available()
                if source.closed and source is self.checker:
                    return self._infrastructure("the checker stopped: " + self.checker.tail())
                for event in events:
                    outcome = self._on_runner(event) if source is self.runner else self._on_checker(event)
                    if outcome is not None:
                        return outcome if outcome != "done" else None
            if self.runner.closed:
                if not self.kernel_started:
                    return self._infrastructure(
                        "the sandbox or its runner could not start: " + self.runner.tail()
                    )
                return None

    def _infrastructure(self, reason: str):
        self.infrastructure = reason
        self.runner.kill()
        return ("failed", reason)

    # -- the runner's events -----------------------------------------------------------------------

    def _on_runner(self, event: dict):
        kind = event.get("event")
        report = self.report
        if isinstance(event.get("kernel_peak_mb"), (int, float)):
            report.peak_memory_mb = max(report.peak_memory_mb, float(event["kernel_peak_mb"]))
        if kind != "rpc-reply":
            report.events.append(kind if kind not in ("cell", "check") else f"{kind} {event.get('index')}")
        if kind == "started":
            self.kernel_started = True
            report.kernel_startup_seconds = float(event.get("seconds", 0))
            self.notebook_deadline = (
                self.started + self.limits.startup_timeout + self.limits.notebook_timeout + GRACE_SECONDS
            )
        elif kind == "cell-start":
            self.current = int(event["index"])
            self.cell_deadline = time.monotonic() + self.limits.cell_timeout + GRACE_SECONDS
        elif kind == "cell":
            index = int(event["index"])
            if (
                0 <= index < len(self.executed.cells)
                and self.executed.cells[index].cell_type == "code"
                and index not in self.tests
            ):
                cell = event.get("cell") or {}
                # only outputs come back: source and metadata stay the grader's
                self.executed.cells[index].outputs = [nbformat.from_dict(o) for o in cell.get("outputs", [])]
                self.executed.cells[index].execution_count = cell.get("execution_count")
                self.returned.add(index)
                report.cell_seconds += float(event.get("seconds", 0) or 0)
            self.cell_deadline = None
        elif kind == "check":
            index = int(event["index"])
            if index not in self.tests:
                return ("runner-error", f"the runner stopped at cell {index}, which is not a test cell")
            self.pending_check = index
            if self.checker_ready:
                self._start_check()
        elif kind == "rpc-reply":
            if self.checking is None or not self.checker.send({"op": "reply", "text": event.get("text", "")}):
                return self._infrastructure("the checker stopped answering: " + self.checker.tail())
        elif kind == "kernel-wanted":
            if self.kernel_started:
                return ("runner-error", "the runner asked for a second kernel")
            pid, why = self.warm.start(self.runner.proc.pid, event) if self.warm is not None else (0, "")
            report.warm_kernel = bool(pid)
            report.warm_kernel_note = why
            if not self.runner.send({"op": "kernel", "pid": pid}):
                return self._infrastructure(
                    "the runner stopped before its kernel started: " + self.runner.tail()
                )
        elif kind == "kernel-died":
            reason = str(event.get("reason"))
            if WARM_KERNEL_ENDED in reason:
                reason = reason.replace(
                    WARM_KERNEL_ENDED, (self.warm and self.warm.ended()) or exit_reason(None)
                )
            return self._kernel_gone("kernel-died", f"cell {event.get('index')}: {reason}")
        elif kind == "notebook-timeout":
            return ("notebook-timeout", event.get("reason", "the notebook ran too long"))
        elif kind == "runner-error":
            if not self.kernel_started:
                return self._infrastructure(f"the runner could not start the notebook: {event.get('reason')}")
            return self._kernel_gone("runner-error", event.get("reason", "the runner failed"))
        elif kind == "done":
            self.finished = True
            if isinstance(event.get("kernel_peak_mb"), (int, float)):
                report.peak_memory_mb = max(report.peak_memory_mb, float(event["kernel_peak_mb"]))
            return "done"
        return None

    def _kernel_gone(self, status: str, reason: str):
        if self.checking is not None:  # let the checker finish the cell it was on: its verdict says why
            self.checker.send({"op": "gone", "reason": reason})
            self._await_verdict(timeout=30.0)
        return (status, reason)

    # -- the checker's events ----------------------------------------------------------------------

    def _start_check(self) -> None:
        index = self.pending_check
        self.pending_check = None
        self.checking = index
        self.check_started = time.monotonic()
        self.cell_deadline = self.check_started + self.limits.cell_timeout + GRACE_SECONDS
        cell = self.executed.cells[index]
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if not self.checker.send(
            {"op": "run", "index": index, "grade_id": grade_id, "source": _test_source(cell)}
        ):
            self._infrastructure("the checker stopped: " + self.checker.tail())

    def _on_checker(self, event: dict):
        kind = event.get("event")
        if kind == "ready":
            self.checker_ready = True
            if self.pending_check is not None:
                self._start_check()
        elif kind == "checker-error":
            return self._infrastructure(f"the checker could not start: {event.get('reason')}")
        elif kind == "rpc":
            if self.checking is None:
                return self._infrastructure("the checker asked the kernel something outside a check")
            self.rpc_count += 1
            left = max(1.0, (self.cell_deadline or time.monotonic()) - GRACE_SECONDS - time.monotonic())
            request = json.dumps(event.get("request"), allow_nan=True)
            if not self.runner.send({"op": "rpc", "id": self.rpc_count, "request": request, "timeout": left}):
                return self._kernel_gone(
                    "runner-error", "the sandbox stopped during a check: " + self.runner.tail()
                )
        elif kind == "verdict":
            return self._verdict(event)
        return None

    def _verdict(self, event: dict):
        index = int(event.get("index", -1))
        if index != self.checking:
            return self._infrastructure(
                f"the checker answered for cell {index} while cell {self.checking} was due"
            )
        cell = self.executed.cells[index]
        cell.outputs = [nbformat.from_dict(o) for o in event.get("outputs", [])]
        cell.execution_count = None
        self.returned.add(index)
        self.report.check_seconds += time.monotonic() - self.check_started
        if isinstance(event.get("peak_mb"), (int, float)):
            self.report.checker_memory_mb = max(self.report.checker_memory_mb, float(event["peak_mb"]))
        problem = event.get("problem")
        if problem:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", index)
            self.report.problems.append(f"check {grade_id}: {problem}")
        self.checking = None
        self.cell_deadline = None
        if not self.runner.send({"op": "check-done", "index": index}):
            return ("runner-error", "the sandbox stopped during a check: " + self.runner.tail())
        return None

    def _await_verdict(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.checking is not None and time.monotonic() < deadline and not self.checker.closed:
            ready, _, _ = select.select([self.checker], [], [], 0.5)
            if ready:
                for event in self.checker.read_available():
                    if event.get("event") == "verdict":
                        self._verdict_without_runner(event)
                    elif event.get("event") == "rpc":
                        self.checker.send({"op": "gone", "reason": "the kernel is gone"})

    def _verdict_without_runner(self, event: dict) -> None:
        index = int(event.get("index", -1))
        if index == self.checking:
            self.executed.cells[index].outputs = [nbformat.from_dict(o) for o in event.get("outputs", [])]
            self.returned.add(index)
            self.checking = None

    def _check_overrun(self):
        """A check that ran out of its cell's time: the learner's code was too slow (the runner interrupts
        an over-long request, so a check that overruns is one whose answers kept coming too slowly)."""
        index = self.checking
        self.executed.cells[index].outputs = [
            nbformat.from_dict(
                {
                    "output_type": "error",
                    "ename": TIMED_OUT,
                    "evalue": f"the checks of this cell ran longer than {self.limits.cell_timeout:g} s",
                    "traceback": [
                        f"{TIMED_OUT}: the checks of this cell ran longer than {self.limits.cell_timeout:g} s"
                    ],
                }
            )
        ]
        self.returned.add(index)
        self.checking = None
        return (
            "cell-timeout",
            f"the checks of cell {index} ran longer than {self.limits.cell_timeout:g} s; "
            "the sandbox was killed",
        )


# --------------------------------------------------------------------------- helpers


def _copy_working_files(source: Path, work: Path, uid: int | None) -> None:
    """The submission's other files (data, helpers), never notebooks (the graded one holds hidden tests)."""
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        if path.suffix == ".ipynb" or any(part.startswith(".") for part in rel.parts) or path.is_symlink():
            continue
        dest = work / rel
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        if uid is not None:
            os.chown(dest, uid, uid)


def _drain(stream, tail: collections.deque) -> None:
    for raw in iter(stream.readline, b""):
        tail.append(raw[:500].decode("utf-8", "replace").rstrip())
    stream.close()


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(proc, grace: float = 0.0) -> int:
    """Wait for the sandbox (killing it after ``grace`` seconds); return the peak resident memory (KB)
    of its largest process."""
    deadline = time.monotonic() + grace
    try:
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
        else:
            _kill_group(proc)
            pid, status, usage = os.wait4(proc.pid, 0)
        _kill_group(proc)  # anything the notebook left behind in the session
        proc.returncode = os.waitstatus_to_exitcode(status)
        return int(usage.ru_maxrss)
    except ChildProcessError:
        _kill_group(proc)
        proc.wait()
        return 0


def _mark_unfinished(executed, code_indices: list[int], returned: set[int], reason: str) -> None:
    first = True
    for index in code_indices:
        if index in returned:
            continue
        cell = executed.cells[index]
        if first:
            cell.outputs = [
                nbformat.from_dict(
                    {
                        "output_type": "error",
                        "ename": KERNEL_DIED,
                        "evalue": reason,
                        "traceback": [f"{KERNEL_DIED}: {reason}"],
                    }
                )
            ]
            first = False
        else:
            text = "this cell was not run because the notebook stopped earlier (" + reason + ")"
            cell.outputs = [
                nbformat.from_dict(
                    {
                        "output_type": "error",
                        "ename": NOT_RUN,
                        "evalue": text,
                        "traceback": [f"{NOT_RUN}: {text}"],
                    }
                )
            ]
        cell.execution_count = None


def held_out_problem(path: str, sha256: str = "") -> str | None:
    """None if ``path`` is a private held-out file the checker can use, else what is wrong with it: it must
    load (:func:`labeling_labs.data.load_held_out_file`, checksum included) and lie outside every folder
    the sandbox binds, where learner code could read it."""
    if not path:
        return None
    from autograder.grading.sandbox import read_only_paths
    from labeling_labs.data import load_held_out_file
    from labeling_labs.resources import ResourceError

    resolved = Path(path).resolve()
    for bound in read_only_paths():
        if resolved == bound or bound in resolved.parents:
            return (
                f"the private held-out file {resolved} lies in {bound}, which the sandbox binds for learner "
                "code to read: keep it elsewhere"
            )
    try:
        load_held_out_file(resolved, sha256)
    except (ResourceError, ValueError, OSError) as error:
        return str(error)
    return None


# --------------------------------------------------------------------------- the check before a batch

#: A trivial notebook: one learner cell, one test cell that asks the kernel for its value.
_PROBE_CELLS = [
    ("code", "probe_value = 6 * 7", {}),
    (
        "code",
        "from autograder.checks import expect\nexpect(probe_value == 42, 'the probe answered wrongly')",
        {
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": True,
                "grade_id": "probe",
                "points": 1,
                "schema_version": 3,
            }
        },
    ),
]
_PREFLIGHT: dict[tuple, tuple[bool, str]] = {}


def preflight(limits: SandboxLimits, *, sandboxed: bool = True, refresh: bool = False) -> tuple[bool, str]:
    """Grade a trivial notebook through the real sandbox, runner and checker: ``(True, "")`` when the whole
    path works here, else ``(False, cause)``. Run before a batch, so a broken set-up refuses the batch
    before any learner's notebook is touched; remembered per process and set of limits."""
    key = (sandboxed, limits.startup_timeout, limits.memory_mb)
    if key in _PREFLIGHT and not refresh:
        return _PREFLIGHT[key]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for _kind, source, metadata in _PROBE_CELLS:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata=copy.deepcopy(metadata)))
    try:
        executed, report = run_notebook(nb, None, limits, sandboxed=sandboxed)
    except (SandboxUnavailable, GradingFailure) as error:
        result = (False, str(error))
    else:
        outputs = executed.cells[1].outputs
        if report.status != "ok":
            result = (False, f"the probe notebook stopped: {report.reason}")
        elif any(o.get("output_type") == "error" for o in outputs):
            result = (False, "the probe's check failed: " + "; ".join(o.get("evalue", "") for o in outputs))
        else:
            result = (True, "")
    _PREFLIGHT[key] = result
    return result


# --------------------------------------------------------------------------- nbgrader plug-in

from nbgrader.preprocessors import NbGraderPreprocessor  # noqa: E402 - nbgrader is a course requirement
from traitlets import Bool, Float, Integer, Unicode  # noqa: E402

_DEFAULTS = SandboxLimits.from_env()


class SandboxedExecute(NbGraderPreprocessor):
    """nbgrader's execute step for this course: ``c.Autograde.autograde_preprocessors`` uses it instead of
    ``nbgrader.preprocessors.Execute``. Writes a grading record beside the autograded notebook."""

    timeout = Float(
        _DEFAULTS.cell_timeout, help="Per-cell wall-clock limit, seconds (COURSE_CELL_TIMEOUT)."
    ).tag(config=True)
    notebook_timeout = Float(
        _DEFAULTS.notebook_timeout, help="Per-notebook wall-clock limit, seconds (COURSE_NOTEBOOK_TIMEOUT)."
    ).tag(config=True)
    memory_mb = Integer(_DEFAULTS.memory_mb, help="Memory limit, MB (COURSE_MEMORY_MB).").tag(config=True)
    max_processes = Integer(
        _DEFAULTS.max_processes,
        help="Processes and threads the sandbox's user may have (COURSE_MAX_PROCESSES).",
    ).tag(config=True)
    max_output_bytes = Integer(_DEFAULTS.max_output_bytes, help="Output kept per cell, bytes.").tag(
        config=True
    )
    unsandboxed = Bool(False, help="Grade WITHOUT isolation where bubblewrap is unavailable.").tag(
        config=True
    )
    preflight = Bool(
        True,
        help="Before the first notebook, grade a trivial one through the real sandbox, runner and "
        "checker; if that fails, every notebook fails with the cause (no grade).",
    ).tag(config=True)
    held_out = Unicode(
        os.environ.get("COURSE_HELD_OUT", ""),
        help="A private labeled held-out CSV for the hidden tests (COURSE_HELD_OUT); it stays with "
        "the checker, outside the sandbox. Empty: the course's public split.",
    ).tag(config=True)
    held_out_sha256 = Unicode(
        os.environ.get("COURSE_HELD_OUT_SHA256", ""),
        help="The SHA-256 the private held-out file must have (COURSE_HELD_OUT_SHA256).",
    ).tag(config=True)

    def limits(self) -> SandboxLimits:
        return SandboxLimits.from_env(
            cell_timeout=self.timeout,
            notebook_timeout=self.notebook_timeout,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_output_bytes=self.max_output_bytes,
        )

    def preprocess(self, nb, resources):
        limits = self.limits()
        path = resources.get("metadata", {}).get("path") or None
        nbinfo = resources.get("nbgrader", {})
        sandboxed = not (self.unsandboxed or allow_unsandboxed_from_env())
        if not sandboxed:
            ok, why = sandbox_status()
            self.log.warning("!" * 78)
            self.log.warning(
                "UNSANDBOXED GRADING: student code runs WITHOUT isolation (%s)",
                "sandbox available but not used" if ok else why,
            )
            self.log.warning("!" * 78)
        ok, why = preflight(limits, sandboxed=sandboxed) if self.preflight else (True, "")
        if ok and (problem := held_out_problem(self.held_out, self.held_out_sha256)):
            ok, why = False, problem
        if not ok:
            raise GradingFailure(
                f"GradingFailure: the grading machinery does not work here, so nothing was graded: {why}"
            )
        try:
            executed, report = run_notebook(
                nb,
                path,
                limits,
                sandboxed=sandboxed,
                held_out=self.held_out,
                held_out_sha256=self.held_out_sha256,
                log=self.log,
            )
        except (GradingFailure, SandboxUnavailable) as error:
            raise GradingFailure(
                f"GradingFailure: {nbinfo.get('student')} / {nbinfo.get('notebook')} was not graded: {error}"
            ) from None
        if path:
            target = Path(path) / REPORT_NAME.format(notebook=nbinfo.get("notebook", "notebook"))
            record = report.to_dict()
            record.update(
                {
                    "student": nbinfo.get("student"),
                    "assignment": nbinfo.get("assignment"),
                    "notebook": nbinfo.get("notebook"),
                    # this nbgrader process's own peak (the sandbox's is peak_memory_mb)
                    "grader_peak_memory_mb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                    ),
                }
            )
            target.write_text(json.dumps(record, indent=1))
        if report.status != "ok":
            self.log.warning("%s / %s: %s", nbinfo.get("student"), nbinfo.get("notebook"), report.reason)
        return executed, resources
