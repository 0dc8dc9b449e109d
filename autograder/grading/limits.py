"""Limits the kernel enforces around one sandbox, beyond bubblewrap's namespaces and ``prlimit``.

Two things live here, both built by the grader on the host before the sandbox starts:

- :func:`socket_filter` -- a seccomp program for bubblewrap's ``--seccomp FD``. A new network
  namespace already keeps TCP, UDP and abstract unix sockets of the host out of reach, but a
  *path* unix socket is a file: one that lies in a folder bound into the sandbox (the data
  folder, the interpreter's prefix, ``/usr``) could be connected to. The filter makes
  ``socket()`` fail with ``EACCES`` for every address family except IPv4, IPv6 (the sandbox's
  own loopback, where the kernel's ZeroMQ channels are) and netlink (namespaced too, used by
  address look-ups). ``socketpair()`` stays allowed: asyncio, ZeroMQ and ``multiprocessing``
  need it, and its sockets are connected only to each other. ``io_uring`` is refused as a whole
  (``EPERM``), since its ``IORING_OP_SOCKET``/``CONNECT`` would create and connect sockets
  without the ``socket`` system call. On x86-64 the x32 system-call numbers are refused
  (``ENOSYS``), and a process of any architecture other than the grader's own is killed, so
  that no other system-call table slips past the filter.

- :class:`SandboxCgroup` -- a control group per sandbox: one memory limit for *all* of the
  submission's processes together (``prlimit --as`` bounds each process alone: four processes
  of 1.5 GB each live under a 3 GB per-process limit), an equal CPU weight for every sandbox
  (so that a notebook with eight busy processes gets no more of the machine than one with one),
  a cap on its tasks, and its peak memory and OOM kills for the report. cgroup v1 (``memory``,
  ``cpu``, ``pids``, ``cpuacct`` hierarchies) and v2 (the unified hierarchy) are both used,
  controller by controller, wherever the machine offers them. Where neither offers memory and
  cpu, :func:`cgroup_support` says why, grading goes on with the per-process limits alone, and
  :meth:`SandboxCgroup.describe` says so in every report.

A sandbox's first process joins its group before it runs anything (:meth:`SandboxCgroup.wrap`
puts a two-line ``/bin/sh`` launcher in front of the command; :meth:`SandboxCgroup.preexec`
does the same from ``Popen``'s ``preexec_fn``), so every process it ever starts is in the
group. Nothing inside the sandbox can leave it: ``/sys`` is not mounted there, and the
sandbox's user owns no cgroup file.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import secrets
import signal
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CGROUP_NAME_PREFIX",
    "SECCOMP_FD",
    "SandboxCgroup",
    "cgroup_support",
    "launcher",
    "socket_filter",
    "write_socket_filter",
]

# --------------------------------------------------------------------------- seccomp: sockets

#: The file descriptor on which the launcher opens the seccomp program for ``bwrap --seccomp``.
#: A caller that passes descriptors of its own into the sandbox (``pass_fds``) must not use it.
SECCOMP_FD = 9

# classic BPF (linux/filter.h, linux/bpf_common.h)
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
_BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00
_BPF_JMP_JGE_K = 0x05 | 0x30 | 0x00
_BPF_RET_K = 0x06 | 0x00
# linux/seccomp.h
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16  # both supported architectures are little-endian; socket()'s family is an int

#: The address families a sandboxed process may open sockets of (``socket(2)``'s first argument):
#: AF_INET, AF_INET6 and AF_NETLINK, all confined to the sandbox's own network namespace.
ALLOWED_FAMILIES = {"AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}
_X32_SYSCALL_BIT = 0x40000000
_IO_URING = (425, 426, 427)  # io_uring_setup, io_uring_enter, io_uring_register (same on both)


@dataclass(frozen=True)
class _Arch:
    audit: int  # AUDIT_ARCH_* from linux/audit.h
    socket: int  # __NR_socket
    x32: bool


_ARCHES = {
    "x86_64": _Arch(audit=0xC000003E, socket=41, x32=True),
    "aarch64": _Arch(audit=0xC00000B7, socket=198, x32=False),
}


def _assemble(program: list[tuple]) -> bytes:
    """Pack ``program`` (instructions, with string labels as jump targets) into ``struct sock_filter``s.

    An instruction is ``(code, k)``, ``(code, k, jump_if_true, jump_if_false)`` or a bare label string;
    a jump target is a label or ``None`` (the next instruction)."""
    labels: dict[str, int] = {}
    instructions = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(instructions)
        else:
            instructions.append(item)
    packed = b""
    for index, (code, k, *targets) in enumerate(instructions):
        offsets = []
        for target in targets or (None, None):
            offset = 0 if target is None else labels[target] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"jump from {index} to {target!r} out of range")
            offsets.append(offset)
        packed += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return packed


def socket_filter(machine: str | None = None) -> bytes:
    """The seccomp program (``struct sock_filter`` array) that ``bwrap --seccomp`` loads: see the module
    docstring. ``machine`` defaults to this one (``platform.machine()``); raises ``RuntimeError`` on an
    architecture it does not know."""
    machine = machine or platform.machine()
    arch = _ARCHES.get(machine)
    if arch is None:
        raise RuntimeError(f"no socket filter for the {machine} architecture (known: {', '.join(_ARCHES)})")
    program: list[tuple | str] = [
        (_BPF_LD_W_ABS, _OFFSET_ARCH),
        (_BPF_JMP_JEQ_K, arch.audit, None, "kill"),
        (_BPF_LD_W_ABS, _OFFSET_NR),
    ]
    if arch.x32:
        program.append((_BPF_JMP_JGE_K, _X32_SYSCALL_BIT, "enosys", None))
    program.append((_BPF_JMP_JEQ_K, arch.socket, "family", None))
    for number in _IO_URING:
        program.append((_BPF_JMP_JEQ_K, number, "eperm", None))
    program += [
        (_BPF_RET_K, _RET_ALLOW),
        "family",
        (_BPF_LD_W_ABS, _OFFSET_ARG0_LOW),
    ]
    for number in ALLOWED_FAMILIES.values():
        program.append((_BPF_JMP_JEQ_K, number, "allow", None))
    program += [
        (_BPF_RET_K, _RET_ERRNO | errno.EACCES),
        "allow",
        (_BPF_RET_K, _RET_ALLOW),
        "eperm",
        (_BPF_RET_K, _RET_ERRNO | errno.EPERM),
        "enosys",
        (_BPF_RET_K, _RET_ERRNO | errno.ENOSYS),
        "kill",
        (_BPF_RET_K, _RET_KILL_PROCESS),
    ]
    return _assemble(program)


def write_socket_filter(folder: Path) -> Path:
    """Write :func:`socket_filter` to ``folder/socket-filter.bpf`` (a per-run folder of the grader's,
    never bound into the sandbox) and return its path, for :func:`launcher`."""
    path = Path(folder) / "socket-filter.bpf"
    path.write_bytes(socket_filter())
    path.chmod(0o600)
    return path


def launcher(
    command: Sequence[str], *, join: Sequence[Path] = (), open_fds: dict[int, Path] | None = None
) -> list[str]:
    """``command`` behind a ``/bin/sh`` launcher that first writes its own pid into each file of ``join``
    (``cgroup.procs`` files: the process and everything it starts are then in those groups), opens each
    path of ``open_fds`` read-only on its descriptor, then ``exec``s ``command`` (same pid). Paths go in
    as arguments, never into the script. If any step fails, the launcher exits with status 125 and the
    shell's message, before ``command`` runs."""
    if not join and not open_fds:
        return list(command)
    open_fds = open_fds or {}
    steps, args = [], []
    for path in join:
        args.append(str(path))
        steps.append(f'echo $$ > "${len(args)}" || exit 125')
    for fd, path in open_fds.items():
        if not 3 <= int(fd) <= 9:
            raise ValueError(f"the launcher opens descriptors 3 to 9, not {fd}")
        args.append(str(path))
        steps.append(f'exec {int(fd)}< "${len(args)}" || exit 125')
    steps += [f"shift {len(args)}", 'exec "$@"']
    return ["/bin/sh", "-c", "; ".join(steps), "course-sandbox-launcher", *args, *command]


# --------------------------------------------------------------------------- cgroups

#: Every sandbox's cgroup is named ``<prefix><grader pid>-<random>``, beside the grader's own.
CGROUP_NAME_PREFIX = "course-sandbox-"
#: Equal weights: every sandbox gets the same share of contended CPU.
CPU_SHARES_V1 = 1024
CPU_WEIGHT_V2 = 100
#: Tasks beyond ``max_processes`` for the launcher, prlimit, bubblewrap and setpriv.
EXTRA_TASKS = 16

log = logging.getLogger(__name__)


@dataclass
class _Controller:
    name: str  # memory | cpu | pids | cpuacct
    version: int  # 1 or 2
    parent: Path  # the folder new groups are made in


@dataclass
class _Support:
    controllers: dict[str, _Controller] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return "memory" in self.controllers and "cpu" in self.controllers

    def reason(self) -> str:
        if self.ok:
            used = ", ".join(f"{c.name} (v{c.version})" for c in self.controllers.values())
            return f"cgroups: {used}"
        missing = [name for name in ("memory", "cpu") if name not in self.controllers]
        why = "; ".join(f"{name}: {self.problems.get(name, 'not offered')}" for name in missing)
        return f"no cgroup {' and '.join(missing)} control here ({why})"


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """``(fstype, mount root, mount point, super options)`` of every cgroup mount, from mountinfo."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((tail[0], fields[3], fields[4].replace("\\040", " "), set(tail[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's cgroup path per v1 controller (``"memory"``), and ``"": path`` for v2."""
    groups = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            groups[""] = path
        else:
            for name in controllers.split(","):
                groups[name] = path
    return groups


def _folder(mount_root: str, mount_point: str, path: str) -> Path | None:
    """Where the cgroup ``path`` (as ``/proc/self/cgroup`` names it) is in a mount of its hierarchy."""
    if mount_root != "/":
        if path != mount_root and not path.startswith(mount_root.rstrip("/") + "/"):
            return None
        path = path[len(mount_root) :]
    return Path(mount_point) / path.lstrip("/")


def _try_child(parent: Path, files: Sequence[str]) -> str | None:
    """Make and remove a probe group in ``parent``; ``None`` if that works and it has ``files``."""
    probe = parent / f"{CGROUP_NAME_PREFIX}probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        probe.mkdir()
    except OSError as error:
        return f"cannot create a group in {parent}: {error.strerror}"
    try:
        missing = [name for name in files if not (probe / name).exists()]
        return f"{probe.parent} offers no {', '.join(missing)}" if missing else None
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass


_V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.max_usage_in_bytes"],
    "cpu": ["cpu.shares"],
    "pids": ["pids.max"],
    "cpuacct": ["cpuacct.usage"],
}
_V2_FILES = {"memory": ["memory.max"], "cpu": ["cpu.weight"], "pids": ["pids.max"], "cpuacct": ["cpu.stat"]}


def _v2_parent(folder: Path, wanted: list[str]) -> tuple[Path | None, str]:
    """The v2 folder to make sandbox groups in, with ``wanted`` controllers enabled for its children."""
    try:
        offered = (folder / "cgroup.controllers").read_text().split()
        enabled = (folder / "cgroup.subtree_control").read_text().split()
    except OSError as error:
        return None, f"cannot read {folder}: {error.strerror}"
    wanted = [name for name in wanted if name in offered]
    if not wanted:
        return None, f"the unified hierarchy ({folder}) offers none of them (bound to cgroup v1 instead?)"
    todo = [name for name in wanted if name not in enabled]
    if todo:
        try:
            (folder / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in todo))
        except OSError as error:
            if error.errno != errno.EBUSY:
                return None, f"cannot enable {', '.join(todo)} in {folder}: {error.strerror}"
            # "no internal processes": a group that hands controllers to children holds no process itself.
            # If the grader is alone in its group, it moves into a leaf of its own and tries again.
            others = [p for p in (folder / "cgroup.procs").read_text().split() if int(p) != os.getpid()]
            if others:
                return None, (
                    f"the grader shares its cgroup {folder} with other processes ({len(others)}); "
                    "start it in a group of its own, e.g. `systemd-run --scope -p Delegate=yes "
                    "course-grade ...`"
                )
            try:
                leaf = folder / "course-grader"
                leaf.mkdir(exist_ok=True)
                (leaf / "cgroup.procs").write_text(str(os.getpid()))
                (folder / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in todo))
            except OSError as error2:
                return None, f"cannot enable {', '.join(todo)} in {folder}: {error2.strerror}"
    return folder, ""


def _detect() -> _Support:
    support = _Support()
    if not os.path.isdir("/sys/fs/cgroup"):
        support.problems = dict.fromkeys(("memory", "cpu"), "no /sys/fs/cgroup (not Linux, or not mounted)")
        return support
    own = _own_groups()
    mounts = _mounts()
    for name in ("memory", "cpu", "pids", "cpuacct"):
        for fstype, root, point, options in mounts:
            if fstype == "cgroup" and name in options and name in own:
                folder = _folder(root, point, own[name])
                if folder is None or not folder.is_dir():
                    support.problems[name] = f"this process's {name} group is not visible under {point}"
                    continue
                problem = _try_child(folder, _V1_FILES[name])
                if problem:
                    support.problems[name] = problem
                else:
                    support.controllers[name] = _Controller(name, 1, folder)
                break
    left = [n for n in ("memory", "cpu", "pids") if n not in support.controllers]
    v2 = next(((root, point) for fstype, root, point, _ in mounts if fstype == "cgroup2"), None)
    if left and v2 is not None and "" in own:
        folder = _folder(v2[0], v2[1], own[""])
        if folder is not None and folder.is_dir():
            parent, problem = _v2_parent(folder, left)
            if parent is not None:
                offered = (parent / "cgroup.subtree_control").read_text().split()
                for name in left:
                    if name in offered and not _try_child(parent, _V2_FILES[name]):
                        support.controllers[name] = _Controller(name, 2, parent)
                        support.problems.pop(name, None)
                    elif name not in support.problems:
                        support.problems[name] = f"cgroup v2 ({parent}) offers no {name} controller"
                if "cpu" in support.controllers and support.controllers["cpu"].version == 2:
                    support.controllers.setdefault("cpuacct", _Controller("cpuacct", 2, parent))
            else:
                for name in left:
                    support.problems.setdefault(name, problem)
    return support


_SUPPORT: _Support | None = None


def _support(refresh: bool = False) -> _Support:
    global _SUPPORT
    if _SUPPORT is None or refresh:
        _SUPPORT = _detect()
    return _SUPPORT


def cgroup_support(refresh: bool = False) -> tuple[bool, str]:
    """``(True, "cgroups: memory (v1), cpu (v1), ...")`` if every sandbox can get its own memory and CPU
    control group here, else ``(False, reason)``. The probe is the real thing: it makes (and removes) a
    group beside the grader's own, in every hierarchy it would use."""
    support = _support(refresh)
    return support.ok, support.reason()


class SandboxCgroup:
    """One sandbox's control group: a context manager around the sandbox's run.

    ``memory_mb`` is the limit for all of the sandbox's processes together (swap included, where
    the kernel accounts it); ``max_tasks`` caps its processes and threads (``None``: no cap);
    every group gets the same CPU weight. On leaving the context, every process still in the
    group is killed and the group removed; :meth:`peak_memory_mb`, :meth:`oom_kills` and
    :meth:`cpu_seconds` keep their last values.

    Where cgroups are unavailable (:func:`cgroup_support`), or a group cannot be made, the object
    is *inactive*: :meth:`wrap` returns the command unchanged, the figures are ``None``, and
    :meth:`describe` (and one warning in the log) says that the limits are per process only.
    """

    def __init__(
        self,
        memory_mb: int,
        *,
        max_tasks: int | None = None,
        logger: logging.Logger | None = None,
        quiet: bool = False,
    ):
        self.memory_mb = int(memory_mb)
        self.max_tasks = max_tasks
        self.log = logger or log
        self.quiet = quiet  # no warning when inactive (the sandbox probe: its status line says it)
        self.folders: dict[str, Path] = {}  # controller -> this group's folder
        self.versions: dict[str, int] = {}
        self.reason = ""
        self._final: dict[str, float | int | None] = {}

    @classmethod
    def for_limits(cls, limits, logger: logging.Logger | None = None, quiet: bool = False) -> SandboxCgroup:
        """The group for :class:`~autograder.grading.config.SandboxLimits`: memory ``limits.memory_mb``
        for all processes, tasks ``limits.max_processes`` plus the launcher's few."""
        return cls(limits.memory_mb, max_tasks=limits.max_processes + EXTRA_TASKS, logger=logger, quiet=quiet)

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self.folders)

    def __enter__(self) -> SandboxCgroup:
        support = _support()
        if not support.ok:
            self.reason = support.reason()
            self._warn()
            return self
        name = f"{CGROUP_NAME_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            for controller in support.controllers.values():
                folder = controller.parent / name
                if folder not in self.folders.values():
                    folder.mkdir()
                self.folders[controller.name] = folder
                self.versions[controller.name] = controller.version
            self._configure()
        except OSError as error:
            self.reason = f"could not set up the sandbox's cgroup {name}: {error}"
            self._remove()
            self.folders.clear()
            self._warn()
        return self

    def __exit__(self, *exc) -> None:
        if not self.active:
            return
        self._final = {"peak": self.peak_memory_mb(), "oom": self.oom_kills(), "cpu": self.cpu_seconds()}
        self.kill()
        self._final.update(
            {
                "peak": self.peak_memory_mb() or self._final["peak"],
                "cpu": self.cpu_seconds() or self._final["cpu"],
            }
        )
        self._remove()
        self.folders.clear()

    def _warn(self) -> None:
        if self.quiet:
            return
        self.log.warning(
            "NO CGROUP LIMITS for this sandbox: %s. Its memory limit is per process only "
            "(several processes may together use more), and its CPU share comes from the "
            "host's scheduler.",
            self.reason,
        )

    def _configure(self) -> None:
        limit = self.memory_mb * 2**20
        if "memory" in self.folders:
            memory = self.folders["memory"]
            if self.versions["memory"] == 1:
                (memory / "memory.limit_in_bytes").write_text(str(limit))
                if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting: no swap beyond it
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(limit))
            else:
                (memory / "memory.max").write_text(str(limit))
                if (memory / "memory.swap.max").exists():
                    (memory / "memory.swap.max").write_text("0")
                if (memory / "memory.oom.group").exists():  # the OOM killer ends the sandbox as a whole
                    (memory / "memory.oom.group").write_text("1")
        if "cpu" in self.folders:
            if self.versions["cpu"] == 1:
                (self.folders["cpu"] / "cpu.shares").write_text(str(CPU_SHARES_V1))
            else:
                (self.folders["cpu"] / "cpu.weight").write_text(str(CPU_WEIGHT_V2))
        if "pids" in self.folders and self.max_tasks is not None:
            (self.folders["pids"] / "pids.max").write_text(str(int(self.max_tasks)))

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a process writes its pid into to join this group (one per hierarchy)."""
        return [folder / "cgroup.procs" for folder in dict.fromkeys(self.folders.values())]

    def pids(self) -> set[int]:
        """The processes in the group now."""
        found: set[int] = set()
        for path in self.procs_files():
            try:
                found.update(int(p) for p in path.read_text().split())
            except OSError:
                continue
        return found

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the group until none is left (or ``timeout`` seconds pass)."""
        if not self.active:
            return
        for folder in dict.fromkeys(self.folders.values()):
            if (folder / "cgroup.kill").exists():
                try:
                    (folder / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.05)
        if self.pids():
            self.log.warning(
                "processes of sandbox cgroup %s survived SIGKILL: %s", self.name, sorted(self.pids())
            )

    def _remove(self) -> None:
        for folder in dict.fromkeys(self.folders.values()):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY:
                        self.log.warning("could not remove cgroup %s: %s", folder, error.strerror)
                        break
                    time.sleep(0.1)
            else:
                self.log.warning("could not remove cgroup %s: still busy", folder)

    # -- joining ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return next(iter(self.folders.values())).name if self.folders else ""

    def wrap(self, command: Sequence[str]) -> list[str]:
        """``command`` behind a launcher that joins this group first (see :func:`launcher`); unchanged if
        the group is inactive. Safe with threads, unlike :meth:`preexec`."""
        return launcher(command, join=self.procs_files())

    def preexec(self):
        """A ``preexec_fn`` for ``subprocess.Popen`` that moves the child into this group before it runs
        the command (or ``None`` if the group is inactive). ``preexec_fn`` is not safe in a process that
        runs threads: prefer :meth:`wrap` there."""
        if not self.active:
            return None
        files = [os.fsencode(path) for path in self.procs_files()]

        def join() -> None:
            pid = str(os.getpid()).encode()
            for path in files:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        return join

    # -- figures ---------------------------------------------------------------------------------
    def _read(self, controller: str, name: str) -> str | None:
        folder = self.folders.get(controller)
        if folder is None:
            return None
        try:
            return (folder / name).read_text()
        except OSError:
            return None

    def peak_memory_mb(self) -> float | None:
        """The group's peak memory (all its processes, page cache and tmpfs files included), MB."""
        if not self.active:
            return self._final.get("peak")  # type: ignore[return-value]
        text = self._read(
            "memory", "memory.max_usage_in_bytes" if self.versions.get("memory") == 1 else "memory.peak"
        )
        return round(int(text) / 2**20, 1) if text and text.strip().isdigit() else None

    def oom_kills(self) -> int | None:
        """How many of the group's processes the kernel killed for exceeding the group's memory."""
        if not self.active:
            return self._final.get("oom")  # type: ignore[return-value]
        text = self._read(
            "memory", "memory.oom_control" if self.versions.get("memory") == 1 else "memory.events"
        )
        for line in (text or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time the group's processes have used (all of them, dead ones included), seconds."""
        if not self.active:
            return self._final.get("cpu")  # type: ignore[return-value]
        if self.versions.get("cpuacct") == 1:
            text = self._read("cpuacct", "cpuacct.usage")
            return round(int(text) / 1e9, 3) if text and text.strip().isdigit() else None
        for line in (self._read("cpuacct", "cpu.stat") or "").splitlines():
            if line.startswith("usage_usec "):
                return round(int(line.split()[1]) / 1e6, 3)
        return None

    def settings(self) -> dict[str, str]:
        """The limits as the kernel holds them now (file name -> content), for tests and reports."""
        names = {
            1: {
                "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
                "cpu": ["cpu.shares"],
                "pids": ["pids.max"],
            },
            2: {
                "memory": ["memory.max", "memory.swap.max", "memory.oom.group"],
                "cpu": ["cpu.weight"],
                "pids": ["pids.max"],
            },
        }
        found = {}
        for controller, version in self.versions.items():
            for name in names[version].get(controller, []):
                text = self._read(controller, name)
                if text is not None:
                    found[name] = text.strip()
        return found

    def describe(self) -> str:
        """One line for the report: the group's limits, or loudly, why there is none."""
        if not self.active and not self._final:
            return (
                f"NO CGROUP: {self.reason or 'not entered'}; memory limited per process only, CPU share "
                "from the host's scheduler"
            )
        versions = sorted(set(self.versions.values()))
        parts = [
            f"cgroup v{'+v'.join(map(str, versions))}: memory {self.memory_mb} MB for all processes together",
            "equal CPU weight",
        ]
        if "pids" in self.versions and self.max_tasks is not None:
            parts.append(f"at most {self.max_tasks} tasks")
        return ", ".join(parts)
