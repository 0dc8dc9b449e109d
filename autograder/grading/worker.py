"""The grading worker: a long-lived process that runs nbgrader's own ``Autograde`` converter for one
private course after another (see :class:`GradingWorker`).

    python -m autograder.grading.worker   < one JSON job per line  > one JSON result per line
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from autograder.grading.config import Course, load_config, nbgrader_env

__all__ = ["GradingWorker"]


class GradingWorker:
    """A long-lived grading process (``python -m autograder.grading.worker``) that imports nbgrader once
    and then runs nbgrader's own ``Autograde`` converter -- what ``nbgrader autograde`` and formgrader run --
    for one private course after another: a fresh ``nbgrader`` process per submission costs seconds of
    imports, more than a small notebook's execution. Student code still runs only in the sandbox. A worker
    that dies or overruns its budget is killed, and the next submission gets a fresh one; after
    :attr:`RECYCLE` submissions it is replaced anyway, so nothing accumulates.

    Each process gets its own temporary folder beside the log (its ``TMPDIR``: every submission's run
    folder, with the learner's working files, is made there), removed when the process is stopped; a
    grader that is killed itself leaves it inside its own scratch folder, not loose in the system's."""

    RECYCLE = 25

    def __init__(self, course: Course, log_path: Path):
        self.course = course
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.graded = 0
        self._buffer = b""

    def _start(self) -> None:
        env = nbgrader_env()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.log_path.stem}-tmp-", dir=self.log_path.parent))
        env["TMPDIR"] = str(self.tmp)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.grading.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=self.course.root,
                start_new_session=True,
            )
        self.graded = 0
        self._buffer = b""

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None
        if self.tmp is not None:  # now that nothing writes there
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def autograde(
        self, private: Path, assignment: str, student: str, settings: dict, timeout: float
    ) -> tuple[int, str]:
        """``(returncode, log)`` of nbgrader's autograde of ``student`` in the course at ``private``."""
        if self.proc is None or self.proc.poll() is not None or self.graded >= self.RECYCLE:
            self.stop()
            self._start()
        self.graded += 1
        job = {"root": str(private), "assignment": assignment, "student": student, "settings": settings}
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return -1, "the grading worker stopped before it took the submission"
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, min(left, 1.0)))[0] if left > 0 else []
            chunk = os.read(fd, 1 << 16) if ready else None
            if chunk == b"" or (not ready and left <= 0):
                self.stop()
                why = "stopped" if chunk == b"" else f"did not finish within {timeout:g} s"
                return -1, f"nbgrader autograde (grading worker) {why}"
            if chunk:
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        result = json.loads(line)
        log = (result.get("log") or "") + (("\n" + result["error"]) if result.get("error") else "")
        if private.is_dir():
            (private / "autograde.log").write_text(log)
        return (0 if result.get("success") else 1), log


def _exit_with_parent(interval: float = 1.0) -> None:
    """End this process as soon as the process that started it is gone (killed, or a Dask worker that
    died mid-task): the worker runs in its own session, so nothing else would stop it, and it would
    grade on for nobody. Its sandbox (bubblewrap ``--die-with-parent``) then goes with it."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_main() -> int:
    """The grading worker: one JSON job per line on stdin, one JSON result per line on stdout."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    _exit_with_parent()
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints goes to the log, never into the results
    sys.stdout = sys.stderr
    for line in sys.stdin:
        job = json.loads(line)
        try:
            config = load_config(job["root"])
            for section, values in job["settings"].items():
                for key, value in values.items():
                    config[section][key] = value
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id = job["assignment"]
            coursedir.student_id = job["student"]
            app = Autograde(coursedir=coursedir, config=config)
            app.force = True
            app.create_student = True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = capture_log(app)
        except Exception as error:  # reported to the grader as this submission's failure
            result = {"success": False, "error": f"{type(error).__name__}: {error}", "log": ""}
        results.write(json.dumps(result, default=str) + "\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
