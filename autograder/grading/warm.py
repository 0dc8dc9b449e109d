"""Warm kernels: the learner's kernel forked from a process whose set-up imports are done, then moved
into that notebook's own fresh sandbox before it runs a line of the learner's.

A kernel's start is mostly imports: ipykernel and IPython, then what the notebook's set-up cells import
(pandas, scikit-learn, snorkel and PyTorch): seconds of CPU per notebook, the same for every notebook of
an assignment. The grader (as root) keeps one *kernel server* per assignment (this module, run with a
control socket on stdin) that has done those imports once, with the sandbox's environment and nothing
else: it never reads a notebook, a grade or a file of the course's. For each notebook:

1. the grader makes the sandbox exactly as before (:mod:`autograder.grading.sandbox`); its runner,
   the only process in it, writes the kernel's connection file and asks for a kernel (``kernel-wanted``);
2. the server forks a *mover*, which joins the sandbox's cgroups, enters the runner's network, IPC,
   UTS, cgroup, PID and mount namespaces (``setns``) and its root folder (``chroot``), and forks the
   kernel there, then waits for it and reports how it ended;
3. the kernel, before anything else, takes the sandbox's limits, becomes the sandbox's unprivileged uid
   (no groups, no capabilities, an empty bounding set, ``no_new_privs``), loads the same seccomp filter
   as bubblewrap, closes every inherited descriptor and starts ipykernel on the runner's connection
   file. The runner drives it as it would a kernel it had started itself.

The mover refuses a target that shares any namespace with the server: a kernel is never started
outside a sandbox. Nothing passes from one notebook's kernel to the next (each is a fresh fork of a
server that never ran learner code), and the server's memory holds only imported modules. Memory the
kernel shares with the server (copy-on-write pages of the imports) is charged to the grader, not to
the sandbox's cgroup; everything the kernel allocates is charged to the sandbox.

When no server can run (not root, not Linux, a thread in the server), the runner starts its kernel
itself, as it always did: slower, the same grades.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import sys
import threading
import time

__all__ = ["NAMESPACES", "WarmKernels", "kernel_server_command", "serve", "status_reason"]

#: The namespaces the kernel enters, the mount namespace last (after it, /proc is the sandbox's).
NAMESPACES = ("net", "ipc", "uts", "cgroup", "pid", "mnt")
_CLONE = {"net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000, "cgroup": 0x02000000,
          "pid": 0x20000000, "mnt": 0x00020000}  # fmt: skip
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2
_LIMITS = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
           "core": resource.RLIMIT_CORE}  # fmt: skip


def kernel_server_command() -> list[str]:
    """The server's command line: this interpreter, as a kernel's is started (no ``-P``: IPython reads
    ``sys.flags.safe_path``), with ``-c`` so that the kernel's ``__main__`` is no module of the grader's.
    :func:`serve` takes the working folder off its path, as ``ipykernel_launcher`` does."""
    return [sys.executable, "-s", "-c", "from autograder.grading.warm import serve; serve()"]


def status_reason(status: str) -> str:
    """How the kernel ended, from the mover's report (``exit N`` or ``signal N``), in the runner's words."""
    from autograder.grading.runner import exit_reason

    kind, _, number = status.partition(" ")
    try:
        code = int(number)
    except ValueError:
        return "the kernel stopped answering"
    return exit_reason(-code if kind == "signal" else code)


#: Seconds the grader waits for a forked kernel to say it is in its sandbox.
KERNEL_START = 30.0
#: Set-up sources whose kernel server could not start in this process, with why (not retried).
_REFUSED: dict[str, str] = {}


# --------------------------------------------------------------------------- the grader's side


class WarmKernels:
    """The grader's side for one notebook: a warm kernel for its runner, and later how that kernel ended."""

    def __init__(self, setup: str, uid: int, limits, cgroup_files: list) -> None:
        from autograder.grading.sandbox import rlimits, sandbox_env

        self.setup, self.uid = setup, uid
        self.limits = rlimits(limits)
        self.cgroup_files = [str(path) for path in cgroup_files]
        self.env = sandbox_env(uid)
        self.server_env = sandbox_env(0)
        self.reports: int | None = None
        self.pid = 0

    @staticmethod
    def available(limits, sandboxed: bool) -> bool:
        """Warm kernels are for sandboxed runs by a root grader on Linux (``COURSE_WARM_KERNELS=0``: never)."""
        return sandboxed and limits.warm_kernels and sys.platform.startswith("linux") and os.geteuid() == 0

    def start(self, sandbox_pid: int, event: dict) -> tuple[int, str]:
        """Fork a warm kernel into the sandbox whose outermost process is ``sandbox_pid``, for the runner's
        ``kernel-wanted`` event; ``(its pid inside the sandbox, "")`` or ``(0, why not)``."""
        if self.setup in _REFUSED:
            return 0, _REFUSED[self.setup]
        target = sandbox_process(sandbox_pid, int(event.get("pid") or 0))
        if target is None:
            return 0, "the runner's process was not found in its sandbox"
        argv = event.get("argv")
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            return 0, "the runner's kernel arguments are not a list of strings"
        request = {
            "target": target,
            "uid": self.uid,
            "limits": self.limits,
            "cgroup": self.cgroup_files,
            "env": self.env,
            "argv": argv,
            "log": str(event.get("log") or "/tmp/kernel-output.log"),
            "cwd": str(event.get("cwd") or "/"),
        }
        from autograder.grading.forks import server_request

        reports, theirs = os.pipe()
        try:
            mover = server_request(kernel_server_command(), self.server_env, self.setup, request, [theirs])
        finally:
            os.close(theirs)
        if not mover:
            os.close(reports)
            _REFUSED[self.setup] = "the kernel server could not start"
            return 0, _REFUSED[self.setup]
        line = _read_line(reports, KERNEL_START)
        if not line.startswith("pid "):
            os.close(reports)
            return 0, line or f"the forked kernel did not report within {KERNEL_START:g} s"
        self.reports, self.pid = reports, int(line.split()[1])
        return self.pid, ""

    def ended(self, timeout: float = 5.0) -> str | None:
        """How the kernel ended, in the runner's words (None if its mover did not say in ``timeout`` s)."""
        if self.reports is None:
            return None
        line = _read_line(self.reports, timeout)
        return status_reason(line) if line.startswith(("exit ", "signal ")) else None

    def close(self) -> None:
        if self.reports is not None:
            os.close(self.reports)
            self.reports = None


def _read_line(fd: int, timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


def sandbox_process(outer: int, inner_pid: int) -> int | None:
    """The host pid of the descendant of ``outer`` whose pid in its own (nested) PID namespace is ``inner_pid``."""
    todo, seen = [outer], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/status") as status:
                nspid = next((line.split()[1:] for line in status if line.startswith("NSpid:")), [])
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                todo += [int(child) for child in children.read().split()]
        except OSError:
            continue
        if len(nspid) > 1 and nspid[-1] == str(inner_pid):
            return pid
    return None


# --------------------------------------------------------------------------- the server


def serve() -> int:
    """Read ``{"setup": <import statements>}``, import them and ipykernel, answer ``ready`` (or why not),
    then fork a mover per request (a JSON line with one descriptor: the pipe the mover reports on)."""
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    reader = control.makefile("rb")
    try:
        _warm_up(str(json.loads(reader.readline()).get("setup", "")))
        problem = _fork_safety()
    except Exception as error:  # an import that fails here fails in the kernel too: it is the notebook's
        problem = f"{type(error).__name__}: {error}"
    if problem:
        control.sendall(f"error {problem}".replace("\n", " ").encode() + b"\n")
        return 1
    control.sendall(b"ready\n")
    from autograder.grading.forks import serve_forks

    return serve_forks(control, reader, 1, lambda request, fds: _move(request, fds[0]))


def _warm_up(setup: str) -> None:
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401 - what every kernel imports first

    if setup:
        exec(compile(setup, "<set-up imports>", "exec"), {"__name__": "__warm__"})


def _fork_safety() -> str | None:
    """None if forking this process is safe (one thread), else why not."""
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1 or threading.active_count() != 1:
        return f"the set-up imports started threads ({threads}): the kernel cannot be forked from them"
    return None


# --------------------------------------------------------------------------- the mover and the kernel


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _report(fd: int, line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (line + "\n").encode())


def _move(request: dict, report: int) -> int:
    """In the mover: enter the target's sandbox and fork the kernel there; report ``pid N`` (the kernel's,
    from inside), then ``exit N`` / ``signal N`` when it ends, or ``error …`` if it could not start."""
    try:
        os.setsid()
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        target = int(request["target"])
        own = {ns: os.stat(f"/proc/self/ns/{ns}").st_ino for ns in NAMESPACES}
        handles = {}
        for ns in NAMESPACES:
            handles[ns] = os.open(f"/proc/{target}/ns/{ns}", os.O_RDONLY)
            if os.fstat(handles[ns]).st_ino == own[ns]:
                raise OSError(f"the target shares the grader's {ns} namespace: it is not a sandbox")
        root = os.open(f"/proc/{target}/root", os.O_RDONLY | os.O_DIRECTORY)
        for path in request.get("cgroup") or []:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        for ns in NAMESPACES:
            _check(libc.setns(handles[ns], _CLONE[ns]), f"setns({ns})")
            os.close(handles[ns])
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        os.chdir("/")
    except Exception as error:
        _report(report, f"error the kernel could not enter the sandbox: {error}")
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    kernel = os.fork()
    if kernel == 0:
        code = 1
        try:
            code = _kernel(request, report)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0
        except BaseException as error:
            _report(report, f"error the kernel could not start: {type(error).__name__}: {error}")
        finally:
            os._exit(code)
    _, status = os.waitpid(kernel, 0)
    if os.WIFSIGNALED(status):
        _report(report, f"signal {os.WTERMSIG(status)}")
    else:
        _report(report, f"exit {os.waitstatus_to_exitcode(status)}")
    return 0


def _drop_privileges(uid: int, limits: dict) -> None:
    libc = _libc()
    for name, value in limits.items():
        resource.setrlimit(_LIMITS[name], (int(value), int(value)))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the last capability this kernel knows
                break
            _check(-1, f"dropping capability {cap} from the bounding set")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise OSError("the kernel's uid, gid or groups did not change")
    with open("/proc/self/status") as status:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in status) if k.startswith("Cap")}
    if any(int(caps.get(k, "1"), 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
        raise OSError(f"the kernel kept capabilities: {caps}")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")  # as an exec'd kernel is


def _load_seccomp(program: bytes) -> None:
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def _fresh_entropy() -> None:
    """Random generators seeded anew: a fork would otherwise share the server's unseeded streams with every
    kernel (a cold kernel seeds them from the system at import). The string hash seed is the server's."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


def _descriptor_ceiling() -> int:
    """One past the highest descriptor this process can hold: its hard limit, which only root can raise.
    Lowering the limit to the sandbox's closes nothing, so the kernel closes up to this one."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def _kernel(request: dict, report: int) -> int:
    """In the kernel, inside the sandbox: take its limits and identity, then run ipykernel."""
    from autograder.grading.limits import socket_filter

    os.setsid()
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    inherited = _descriptor_ceiling()  # before the sandbox's lower limit hides the server's higher ones
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _drop_privileges(int(request["uid"]), dict(request.get("limits") or {}))
    _load_seccomp(socket_filter())
    cwd = str(request.get("cwd") or "/")
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    os.environ["PWD"] = cwd
    stdin = os.open(os.devnull, os.O_RDONLY)
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(stdin, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _fresh_entropy()
    _report(report, f"pid {os.getpid()}")
    os.closerange(3, inherited)  # the report pipe and all the rest
    # as ``python -m ipykernel_launcher …`` sees it (the launcher takes the working folder off the path)
    import importlib.util

    argv = [str(a) for a in request.get("argv") or []]
    sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *argv]
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv)
    return 0
