"""Run one notebook inside the grading sandbox and stream each executed cell back to the grader.

This module is the only grading code that runs *inside* the sandbox (see
:mod:`autograder.grading.sandbox`). The grader starts it as::

    python -m autograder.grading.runner  < job.json  > events.jsonl

and writes the job (the notebook and the limits) to its standard input. The
runner starts a Jupyter kernel, executes the code cells one by one with
nbclient, and after each cell prints one JSON line on its standard output:

- ``{"event": "started", ...}`` once the kernel is ready;
- ``{"event": "cell-start", "index": i}`` before a cell runs (the grader's
  per-cell watchdog keys on it);
- ``{"event": "cell", "index": i, "cell": {...}}`` with the executed cell;
- ``{"event": "kernel-died", "index": i, "reason": "..."}`` if the kernel stops;
- ``{"event": "done"}`` at the end.

Because every cell leaves the sandbox as soon as it has run, a sandbox that is
killed (memory, CPU time, a hang) still hands back the cells before the
failure: the grader keeps their credit and gives 0 to the rest.

Student code must not be able to forge these lines, read the hidden tests the
runner holds, or tamper with the checks, so:

- the runner makes itself non-dumpable before it reads the job: a process of
  the same user (the kernel) can then neither read its memory nor open its
  file descriptors through ``/proc``;
- the kernel's own stdout and stderr go to a log file, never to the runner's
  pipe, and the kernel only ever receives the cells it is asked to run (the
  hidden tests of later cells stay in the runner);
- before every graded test cell the runner runs :data:`GUARD` in the kernel,
  which puts back what a notebook may have overridden (builtins, the
  ``autograder`` modules, IPython's traceback and transformer hooks,
  ``sys.excepthook``, display hooks, event callbacks); if the guard cannot
  prove it ran, the test cell is not run and scores 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

#: The messages the grader puts in a cell's error output when it stops a cell.
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TAMPERED = "GraderIntegrityError"
TIMED_OUT = "CellTimeoutError"
OUTPUT_LIMIT_NOTE = "[output truncated by the grader: this cell printed more than {limit} bytes]\n"

#: Executed silently in the kernel before any notebook cell: remember what the guard restores.
SNAPSHOT = r"""
def _course_grade_snapshot():
    import builtins, sys, types
    ip = get_ipython()
    snap = types.SimpleNamespace()
    snap.builtins = dict(vars(builtins))
    snap.sys = {name: getattr(sys, name) for name in (
        "excepthook", "displayhook", "stdout", "stderr")}
    snap.meta_path = list(sys.meta_path)
    snap.path_hooks = list(sys.path_hooks)
    snap.ip_dict = dict(vars(ip))
    snap.classes = {}
    for obj in (ip, getattr(ip, "kernel", None), getattr(ip, "displayhook", None),
                getattr(ip, "display_pub", None), getattr(ip, "InteractiveTB", None)):
        if obj is None:
            continue
        for cls in type(obj).__mro__:
            if cls is object:
                continue
            snap.classes[cls] = dict(vars(cls))
    snap.kernel_dict = dict(vars(ip.kernel)) if getattr(ip, "kernel", None) is not None else {}
    snap.shell_handlers = dict(getattr(getattr(ip, "kernel", None), "shell_handlers", {}))
    snap.callbacks = {name: list(cbs) for name, cbs in ip.events.callbacks.items()}
    snap.ast_transformers = list(ip.ast_transformers)
    snap.input_cleanup = list(ip.input_transformers_cleanup)
    snap.input_post = list(ip.input_transformers_post)
    snap.custom_tb = ip.CustomTB
    snap.xmode = ip.InteractiveTB.mode
    return snap
_course_grade_state = _course_grade_snapshot()
import sys as _course_grade_sys
_course_grade_sys.modules["_course_grade_state"] = _course_grade_state
del _course_grade_snapshot, _course_grade_state, _course_grade_sys
"""

#: Executed silently in the kernel before each graded test cell; ``{token}`` proves it ran to the end.
GUARD = r"""
def _course_grade_guard(token):
    import builtins, sys, threading
    snap = sys.modules["_course_grade_state"]
    ip = get_ipython()
    # builtins: put back every original name, drop the ones a notebook added
    current = vars(builtins)
    for name in [n for n in current if n not in snap.builtins]:
        del current[name]
    current.update(snap.builtins)
    # interpreter hooks
    for name, value in snap.sys.items():
        setattr(sys, name, value)
    sys.meta_path[:] = snap.meta_path
    sys.path_hooks[:] = snap.path_hooks
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    # classes of the shell, kernel, display and traceback machinery
    def code_like(value):
        return callable(value) or isinstance(value, (property, staticmethod, classmethod))

    for cls, attrs in snap.classes.items():
        for name in [n for n in list(vars(cls)) if n not in attrs and code_like(vars(cls)[n])]:
            try:
                delattr(cls, name)
            except (AttributeError, TypeError):
                pass
        for name, value in attrs.items():
            if code_like(value) and vars(cls).get(name) is not value:
                try:
                    setattr(cls, name, value)
                except (AttributeError, TypeError):
                    pass
    # instance attributes of the shell and the kernel (e.g. a replaced showtraceback or run_cell)
    for obj, saved in ((ip, snap.ip_dict), (getattr(ip, "kernel", None), snap.kernel_dict)):
        if obj is None:
            continue
        for name in [n for n in list(vars(obj)) if n not in saved and code_like(vars(obj)[n])]:
            delattr(obj, name)
        for name, value in saved.items():
            if code_like(value) and vars(obj).get(name) is not value:
                vars(obj)[name] = value
    if getattr(ip, "kernel", None) is not None:
        ip.kernel.shell_handlers.clear()
        ip.kernel.shell_handlers.update(snap.shell_handlers)
    for name, cbs in snap.callbacks.items():
        ip.events.callbacks[name][:] = cbs
    ip.ast_transformers[:] = snap.ast_transformers
    ip.input_transformers_cleanup[:] = snap.input_cleanup
    ip.input_transformers_post[:] = snap.input_post
    ip.custom_exceptions = ()
    ip.CustomTB = snap.custom_tb
    ip.InteractiveTB.set_mode(mode=snap.xmode)
    # the grading helpers: forget any patched copy, so the test cell imports them afresh from disk
    for name in [n for n in list(sys.modules) if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]
    return token[::-1]
_course_grade_answer = _course_grade_guard({token!r})
del _course_grade_guard
"""


def make_undumpable() -> bool:
    """Forbid same-user processes (the kernel) to read this process's memory or file descriptors."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        return False


class _Emitter:
    """Writes one JSON object per line on the runner's own stdout (a pipe to the grader)."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        # Nothing else may write to fd 1: the grader parses it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        sys.stdout = sys.stderr

    def __call__(self, event: str, **fields: Any) -> None:
        self._out.write(json.dumps({"event": event, **fields}) + "\n")
        self._out.flush()


def _error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def _limited_client_class():
    from nbclient import NotebookClient

    class LimitedClient(NotebookClient):
        """An nbclient that keeps at most ``max_output_bytes`` of output per cell (errors always kept)."""

        max_output_bytes = 1_000_000
        _sizes: dict[int, int]

        def output(self, outs, msg, display_id, cell_index):  # noqa: D401 - nbclient hook
            sizes = self.__dict__.setdefault("_sizes", {})
            size = len(json.dumps(msg.get("content", {})))
            used = sizes.get(cell_index, 0)
            if msg["msg_type"] == "error":
                content = msg["content"]
                content["traceback"] = [line[:2000] for line in content.get("traceback", [])[-40:]]
                content["evalue"] = str(content.get("evalue", ""))[:2000]
                return super().output(outs, msg, display_id, cell_index)
            if used + size > self.max_output_bytes:
                if used <= self.max_output_bytes:
                    sizes[cell_index] = self.max_output_bytes + 1
                    note = {"output_type": "stream", "name": "stdout",
                            "text": OUTPUT_LIMIT_NOTE.format(limit=self.max_output_bytes)}
                    from nbformat import from_dict

                    outs.append(from_dict(note))
                return None
            sizes[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)

    return LimitedClient


def _on_cell_executed(cell, cell_index, execute_reply):
    """What nbgrader's Execute does: a failed reply without an error output still gets one."""
    content = (execute_reply or {}).get("content", {})
    if content.get("status") != "error":
        return
    if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        return
    from nbformat import from_dict

    cell.outputs.append(from_dict({
        "output_type": "error",
        "ename": content.get("ename", "Error"),
        "evalue": str(content.get("evalue", "")),
        "traceback": content.get("traceback") or ["ERROR: An error occurred while showtraceback was disabled"],
    }))


async def _silent(client, code: str, timeout: float, expression: str | None = None) -> dict | None:
    """Run ``code`` in the kernel without output; return the reply content (or None on timeout)."""
    kc = client.kc
    exprs = {"answer": expression} if expression else {}
    msg_id = kc.execute(code, silent=True, store_history=False, user_expressions=exprs, allow_stdin=False)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            msg = await kc.shell_channel.get_msg(timeout=min(left, 1.0))
        except Exception:  # queue.Empty
            if not await kc.is_alive():
                raise
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def _kernel_peak_mb(client) -> float:
    """The kernel process's peak resident memory so far (``VmHWM``), in MB; 0 if it cannot be read."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (AttributeError, OSError, ValueError):
        pass
    return 0.0


def _children_peak_mb() -> float:
    """The peak resident memory of the largest process this runner has reaped (the kernel, after shutdown)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def _is_graded_code(cell: dict) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _death_reason(client) -> str:
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "the kernel stopped answering"
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return f"the kernel used up its CPU-time limit ({name})"
        if sig == signal.SIGKILL:
            return f"the kernel was killed ({name}): memory, CPU-time or process limit"
        return f"the kernel was killed by signal {name}"
    return f"the kernel exited with code {code} (os._exit, sys.exit in a thread, or a crash)"


def _copy_files_in(source: str) -> None:
    """Copy the submission's working files (bound read-only at ``source``) into the size-limited home."""
    import shutil

    if not source or not os.path.isdir(source):
        return
    home = os.getcwd()
    for folder, _dirs, files in os.walk(source):
        target = os.path.join(home, os.path.relpath(folder, source))
        os.makedirs(target, exist_ok=True)
        for name in files:
            shutil.copyfile(os.path.join(folder, name), os.path.join(target, name), follow_symlinks=False)


async def run_job(job: dict, emit: _Emitter) -> None:
    import nbformat

    _copy_files_in(job.get("files_from", ""))
    nb = nbformat.from_dict(job["notebook"])
    client_class = _limited_client_class()
    client = client_class(
        nb,
        timeout=job["cell_timeout"],
        startup_timeout=job.get("startup_timeout", 120),
        kernel_name=job.get("kernel_name", "python3"),
        allow_errors=True,
        interrupt_on_timeout=True,
        raise_on_iopub_timeout=False,
        iopub_timeout=5,
        error_on_timeout={
            "ename": TIMED_OUT,
            "evalue": f"the cell ran longer than {job['cell_timeout']} s",
            "traceback": [f"{TIMED_OUT}: the cell ran longer than {job['cell_timeout']} s"],
        },
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        record_timing=False,
        resources={"metadata": {"path": os.getcwd()}},
        on_cell_executed=_on_cell_executed,
    )
    client.max_output_bytes = int(job.get("max_output_bytes", 1_000_000))
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kernel-output.log")
    kernel_log = open(log_path, "wb")
    started = time.monotonic()
    notebook_timeout = float(job["notebook_timeout"])
    guard = job.get("guard", True)
    async with client.async_setup_kernel(stdin=subprocess.DEVNULL, stdout=kernel_log, stderr=kernel_log,
                                         cwd=os.getcwd()):
        if guard:
            reply = await _silent(client, SNAPSHOT, timeout=60)
            if not reply or reply.get("status") != "ok":
                emit("warning", message=f"could not snapshot the kernel state: {reply and reply.get('evalue')}")
                guard = False
        emit("started", seconds=round(time.monotonic() - started, 3))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() - started > notebook_timeout:
                emit("notebook-timeout", index=index,
                     reason=f"the notebook ran longer than its {notebook_timeout:g} s limit")
                return
            emit("cell-start", index=index)
            try:
                if guard and _is_graded_code(cell):
                    token = secrets.token_hex(16)
                    # bounded by the cell limit, so the grader's watchdog (cell limit + grace) never fires first
                    reply = await _silent(client, GUARD.replace("{token!r}", repr(token)),
                                          timeout=min(30.0, float(job["cell_timeout"])),
                                          expression="_course_grade_answer")
                    answer = (((reply or {}).get("user_expressions") or {}).get("answer") or {})
                    text = (answer.get("data") or {}).get("text/plain", "")
                    if text != repr(token[::-1]):
                        cell.outputs = [_error_output(
                            TAMPERED, "the notebook changed the grading environment in a way the grader "
                            "could not undo, so this test cell was not run.")]
                        emit("cell", index=index, cell=cell, tampered=True)
                        continue
                    emit("cell-start", index=index)  # the cell itself gets its full limit after the guard
                cell_started = time.monotonic()
                await client.async_execute_cell(cell, index)
                emit("cell", index=index, cell=cell, seconds=round(time.monotonic() - cell_started, 3),
                     kernel_peak_mb=_kernel_peak_mb(client))
            except Exception as error:  # DeadKernelError and friends: the kernel is gone
                reason = _death_reason(client)
                emit("kernel-died", index=index, reason=reason, error=type(error).__name__)
                return
    emit("done", seconds=round(time.monotonic() - started, 3), kernel_peak_mb=_children_peak_mb())


def main() -> int:
    undumpable = make_undumpable()
    emit = _Emitter()
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    emit("hello", pid=os.getpid(), uid=os.getuid(), undumpable=undumpable)
    try:
        asyncio.run(run_job(job, emit))
    except Exception as error:  # the grader turns this into a reason; nothing is lost silently
        emit("runner-error", reason=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
