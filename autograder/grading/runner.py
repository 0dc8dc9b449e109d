"""Run one notebook inside the grading sandbox: the only grading code that runs *inside* it.

The grader (:mod:`autograder.grading.execute`) starts it as::

    python -s -P -m autograder.grading.runner   < job and commands (JSON lines)  > events (JSON lines)

It reads a :class:`~autograder.grading.protocol.RunnerJob` (the notebook, whose test cells hold no
source, and the limits), gets a Jupyter kernel and executes the code cells one by one with
nbclient, writing one event per step:

- ``kernel-wanted`` when the job asks for a warm kernel: the grader forks one into this sandbox
  (:mod:`autograder.grading.warm`) and answers its pid, or 0, and the runner then starts one itself;

- ``started`` once the kernel is ready; ``cell-start`` before each cell (the grader's watchdog
  keys on it); ``cell`` with each executed cell's outputs, as soon as it has run;
- at a test cell, ``check``: the grader runs the test in its checker, outside the sandbox, whose
  questions about the learner's objects arrive here as ``rpc`` commands; the runner evaluates each
  in the kernel (``autograder.checks.bridge.serve``, a silent execution) and answers
  ``rpc-reply``, until ``check-done``;
- ``kernel-died``, ``notebook-timeout`` or ``runner-error`` when the notebook cannot go on;
  ``done`` at the end.

Because every cell leaves the sandbox as soon as it has run, a sandbox that is killed (memory, CPU
time, a hang) still hands back the cells before the failure.

The kernel never receives a test cell: hidden tests, their cases' expected answers and held-out
labels stay in the checker. The learner's code can change anything in its kernel, the bridge
included; that only changes its answers, which the checker reads as plain data. The kernel's own
stdout and stderr go to a log file, never to the runner's pipe, and the runner makes itself
non-dumpable so that the kernel (same uid) cannot read its memory or file descriptors.
"""

from __future__ import annotations

import ast
import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from autograder.grading.forks import ForkedProcess
from autograder.grading.protocol import TIMED_OUT, WARM_KERNEL_ENDED, RunnerJob

#: The note the grader writes into a cell that printed more than the limit.
OUTPUT_LIMIT_NOTE = "[output truncated by the grader: this cell printed more than {limit} bytes]\n"
#: Seconds the runner waits for the kernel to answer after interrupting an over-long request.
INTERRUPT_GRACE = 10.0


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
        self._out.write(json.dumps({"event": event, **fields}, allow_nan=True) + "\n")
        self._out.flush()


def _size(content: Any) -> int:
    try:
        return len(json.dumps(content))
    except (TypeError, ValueError):
        return 0


def _limited_client_class():
    from nbclient import NotebookClient
    from nbformat import from_dict

    class LimitedClient(NotebookClient):
        """An nbclient that keeps at most ``max_output_bytes`` of output per cell, display updates included
        (errors always kept, their tracebacks shortened)."""

        max_output_bytes = 1_000_000

        def _sizes(self) -> dict[int, int]:
            return self.__dict__.setdefault("_course_sizes", {})

        def _over(self, cell_index: int, extra: int) -> bool:
            sizes = self._sizes()
            if sizes.get(cell_index, 0) + extra <= self.max_output_bytes:
                sizes[cell_index] = sizes.get(cell_index, 0) + extra
                return False
            return True

        def _note(self, outs, cell_index: int) -> None:
            sizes = self._sizes()
            if sizes.get(cell_index, 0) <= self.max_output_bytes:
                sizes[cell_index] = self.max_output_bytes + 1
                outs.append(
                    from_dict(
                        {
                            "output_type": "stream",
                            "name": "stdout",
                            "text": OUTPUT_LIMIT_NOTE.format(limit=self.max_output_bytes),
                        }
                    )
                )

        def output(self, outs, msg, display_id, cell_index):  # noqa: D401 - nbclient hook
            if msg["msg_type"] == "error":
                content = msg["content"]
                content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[-40:]]
                content["evalue"] = str(content.get("evalue", ""))[:2000]
                return super().output(outs, msg, display_id, cell_index)
            if self._over(cell_index, _size(msg.get("content", {}))):
                self._note(outs, cell_index)
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id, msg):
            # an update replaces outputs of (possibly earlier) cells: it counts against each of them
            targets = self._display_id_map.get(display_id, {})
            size = _size(msg.get("content", {}))
            for cell_index, output_indices in list(targets.items()):
                if self._over(cell_index, size * max(1, len(output_indices))):
                    self._note(self.nb.cells[cell_index].outputs, cell_index)
                    return None
            return super()._update_display_id(display_id, msg)

    return LimitedClient


def _on_cell_executed(cell, cell_index, execute_reply):
    """What nbgrader's Execute does: a failed reply without an error output still gets one."""
    content = (execute_reply or {}).get("content", {})
    if content.get("status") != "error":
        return
    if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        return
    from nbformat import from_dict

    cell.outputs.append(
        from_dict(
            {
                "output_type": "error",
                "ename": content.get("ename", "Error"),
                "evalue": str(content.get("evalue", "")),
                "traceback": content.get("traceback")
                or ["ERROR: An error occurred while showtraceback was disabled"],
            }
        )
    )


class _WarmProcess(ForkedProcess):
    """A kernel the grader's kernel server started in this sandbox (:mod:`autograder.grading.warm`): same
    uid and PID namespace, so it can be signalled, but it is not this process's child and cannot be
    waited for."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid, None, None, None)

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                with open(f"/proc/{self.pid}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                state = "X"
            if state in ("Z", "X"):
                self.returncode = 1  # how it ended is the grader's to read (WARM_KERNEL_ENDED)
        return self.returncode


def _warm_kernel_manager(client, ask):
    """``client``'s kernel manager, with a provisioner that first asks the grader for a warm kernel
    (``ask(argv)`` answers its pid, or 0), and starts one itself, as usual, when there is none."""
    import uuid

    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    class WarmProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd, **kwargs):
            pid = 0
            if cmd[1:3] == ["-m", "ipykernel_launcher"]:
                pid = await ask(cmd[3:])
            if not pid:
                return await super().launch_kernel(cmd, **kwargs)
            self.process = _WarmProcess(pid)
            self.pid = self.pgid = pid
            self.cwd = kwargs.get("cwd")
            return self.connection_info

    km = client.create_kernel_manager()
    km.kernel_id = str(uuid.uuid4())
    km.provisioner = WarmProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    return km


class KernelStuck(RuntimeError):
    """The kernel did not answer a request, even after an interrupt."""


async def _shell_reply(kc, msg_id: str, timeout: float) -> dict | None:
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


async def _evaluate(client, request_text: str, timeout: float) -> str:
    """Evaluate one checker request in the kernel; return the bridge's reply (JSON text)."""
    expression = f"__import__('autograder.checks.bridge', fromlist=['serve']).serve({request_text!r})"
    kc = client.kc
    msg_id = kc.execute(
        "", silent=True, store_history=False, user_expressions={"r": expression}, allow_stdin=False
    )
    content = await _shell_reply(kc, msg_id, timeout)
    if content is None:
        await client.km.interrupt_kernel()
        content = await _shell_reply(kc, msg_id, INTERRUPT_GRACE)
        if content is None:
            raise KernelStuck(f"the kernel did not answer within {timeout:g} s, nor after an interrupt")
    result = (content.get("user_expressions") or {}).get("r") or {}
    if result.get("status") != "ok":
        reason = f"{result.get('ename', 'Error')}: {result.get('evalue', '')}"[:500]
        return json.dumps({"ok": False, "error": f"the kernel could not evaluate the request ({reason})"})
    text = (result.get("data") or {}).get("text/plain", "")
    try:
        value = ast.literal_eval(text) if isinstance(text, str) and len(text) < 80 * 2**20 else None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if type(value) is not str:
        return json.dumps({"ok": False, "error": "the kernel's answer was not the bridge's reply"})
    return value


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


def _death_reason(client) -> str:
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if isinstance(process, _WarmProcess) and code is not None:
        return WARM_KERNEL_ENDED  # not this process's child: the grader has its exit status
    return exit_reason(code)


def exit_reason(code: int | None) -> str:
    """Why the kernel is gone, from its exit code (negative: the signal that ended it; None: unknown)."""
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


def _check_packages(expected: dict) -> str | None:
    """None if the course packages come from the folders the grader bound, else why not (found, not
    imported: importing the course package would load pandas, a second of CPU the kernel pays anyway)."""
    import importlib.util

    for name, folder in expected.items():
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            return f"the runner cannot find {name}, which the grader bound at {folder}"
        found = os.path.dirname(os.path.abspath(spec.origin))
        if found != folder:
            return f"the runner finds {name} in {found}, not in the folder the grader bound ({folder})"
    return None


class _Commands:
    """The grader's commands on stdin, read line by line off the event loop."""

    def __init__(self) -> None:
        self._stdin = sys.stdin.buffer

    async def next(self) -> dict:
        line = await asyncio.get_running_loop().run_in_executor(None, self._stdin.readline)
        if not line:
            raise EOFError("the grader closed the runner's input")
        return json.loads(line)


async def _serve_check(client, index: int, commands: _Commands, emit: _Emitter) -> None:
    """Answer the checker's requests for test cell ``index`` until the grader says it is done."""
    while True:
        command = await commands.next()
        op = command.get("op")
        if op == "check-done":
            return
        if op != "rpc":
            raise ValueError(f"unexpected command {op!r} during a check")
        text = await _evaluate(client, str(command.get("request", "")), float(command.get("timeout", 60)))
        emit("rpc-reply", id=command.get("id"), text=text, kernel_peak_mb=_kernel_peak_mb(client))


async def run_job(job: RunnerJob, commands: _Commands, emit: _Emitter) -> None:
    import nbformat

    problem = _check_packages(job.packages)
    if problem:
        emit("runner-error", reason=problem)
        return
    _copy_files_in(job.files_from)
    nb = nbformat.from_dict(job.notebook)
    tests = set(job.test_cells)
    client = _limited_client_class()(
        nb,
        timeout=job.cell_timeout,
        startup_timeout=job.startup_timeout,
        kernel_name=job.kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        raise_on_iopub_timeout=False,
        iopub_timeout=5,
        error_on_timeout={
            "ename": TIMED_OUT,
            "evalue": f"the cell ran longer than {job.cell_timeout:g} s",
            "traceback": [f"{TIMED_OUT}: the cell ran longer than {job.cell_timeout:g} s"],
        },
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        record_timing=False,
        # Nothing the kernel does after the last cell can change a grade (its atexit hooks print to no
        # notebook), and the sandbox is thrown away after it: end the kernel at once rather than wait
        # for a graceful shutdown (seconds per submission, mostly the heavy imports' teardown).
        shutdown_kernel="immediate",
        resources={"metadata": {"path": os.getcwd()}},
        on_cell_executed=_on_cell_executed,
    )
    client.max_output_bytes = int(job.max_output_bytes)
    if job.warm_kernel:

        async def ask(argv: list[str]) -> int:
            emit("kernel-wanted", pid=os.getpid(), argv=argv, log=log_path, cwd=os.getcwd())
            answer = await commands.next()
            if answer.get("op") != "kernel":
                raise ValueError(f"expected the grader's kernel, got {answer.get('op')!r}")
            return int(answer.get("pid") or 0)

        _warm_kernel_manager(client, ask)
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kernel-output.log")
    kernel_log = open(log_path, "wb")
    started = time.monotonic()
    async with client.async_setup_kernel(
        stdin=subprocess.DEVNULL, stdout=kernel_log, stderr=kernel_log, cwd=os.getcwd()
    ):
        emit("started", seconds=round(time.monotonic() - started, 3))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() - started > job.notebook_timeout:
                emit(
                    "notebook-timeout",
                    index=index,
                    reason=f"the notebook ran longer than its {job.notebook_timeout:g} s limit",
                )
                return
            emit("cell-start", index=index)
            try:
                if index in tests:
                    emit("check", index=index)
                    await _serve_check(client, index, commands, emit)
                    continue
                cell_started = time.monotonic()
                await client.async_execute_cell(cell, index)
                emit(
                    "cell",
                    index=index,
                    cell=cell,
                    seconds=round(time.monotonic() - cell_started, 3),
                    kernel_peak_mb=_kernel_peak_mb(client),
                )
            except (EOFError, ValueError) as error:  # the grader's side of the conversation broke
                emit("runner-error", reason=f"the grader's commands stopped: {error}")
                return
            except Exception as error:  # DeadKernelError, KernelStuck and friends: the kernel is gone
                reason = str(error) if isinstance(error, KernelStuck) else _death_reason(client)
                emit("kernel-died", index=index, reason=reason, error=type(error).__name__)
                return
    emit("done", seconds=round(time.monotonic() - started, 3), kernel_peak_mb=_children_peak_mb())


def _skip_optional_imports() -> None:
    """nbformat loads jsonschema, whose optional IRI format checker (``rfc3987_syntax``) builds a grammar
    when imported: most of a second of CPU per notebook, for a format no notebook schema uses. The runner
    goes without it (jsonschema imports it only if it can)."""
    sys.modules.setdefault("rfc3987_syntax", None)


def main() -> int:
    _skip_optional_imports()
    undumpable = make_undumpable()
    emit = _Emitter()
    commands = _Commands()
    try:
        job = RunnerJob.from_dict(json.loads(sys.stdin.buffer.readline()))
    except (ValueError, TypeError) as error:
        emit("runner-error", reason=f"the job could not be read: {error}")
        return 1
    emit("hello", pid=os.getpid(), uid=os.getuid(), undumpable=undumpable)
    try:
        asyncio.run(run_job(job, commands, emit))
    except Exception as error:  # the grader turns this into a reason; nothing is lost silently
        emit("runner-error", reason=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
