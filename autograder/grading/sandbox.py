"""Execute a student's notebook in a sandbox, never in the grader's own process.

Threat model: a submitted notebook is arbitrary code. While it is graded it
must not reach the network, read the hidden tests (``solutions/``), the
gradebook or other students' work, write outside its own working folder,
exhaust the machine (memory, CPU, processes, disk, output), forge its results,
or stop the batch. On Linux the grader runs, for each notebook::

    prlimit (memory, CPU time, file size, open files, processes)
      bwrap (new network, PID, IPC and UTS namespaces; a file system that holds
             only what the kernel needs, read-only, plus the submission's
             working files read-only and a home, /tmp and /dev/shm that are
             private, size-limited tmpfs mounts: nothing reaches the disk)
        setpriv (an unprivileged, per-run uid, no capabilities, no_new_privs)
          python -m autograder.grading.runner   (nbclient + the Jupyter kernel)

- Read-only binds are derived from the running interpreter (``sys.prefix``,
  ``sys.base_prefix``, ``sysconfig``) and from the course packages' own
  locations (``labeling_labs/``, ``autograder/``, the fetched ``data/``): never
  the repository root, so ``solutions/``, ``gradebook.db`` and ``submitted/``
  do not exist inside the sandbox.
- The uid is unprivileged and fresh for each run, so ``RLIMIT_NPROC`` (which
  Linux never enforces for root) stops a fork bomb without starving the other
  workers.
- Only an allow-list of environment variables goes in (``COURSE_*`` without
  secret-looking names, locale, thread counts), never the grader's environment.
- The runner streams each executed cell back as soon as it has run, and the
  grader kills the whole sandbox when a cell or the notebook exceeds its
  wall-clock limit: cells before the failure keep their credit, every cell
  from the failure on gets an error output (0 points) that says why.

Where bubblewrap is missing or does not work, :func:`run_notebook` refuses
with :class:`SandboxUnavailable`, unless the caller asks for an unsandboxed run
(``--unsandboxed`` or ``COURSE_ALLOW_UNSANDBOXED=1``); the notebook then still
runs in a separate, resource-limited process, and the report says
``sandboxed: false`` so that the log and the export can say so.

:class:`SandboxedExecute` plugs this into nbgrader: ``nbgrader_config.py``
puts it in place of nbgrader's ``Execute`` in the ``Autograde`` converter, so a
plain ``nbgrader autograde`` is sandboxed too.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import re
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.grading.config import SandboxLimits, allow_unsandboxed_from_env
from autograder.grading.limits import SECCOMP_FD, SandboxCgroup, cgroup_support, launcher, write_socket_filter
from autograder.grading.runner import KERNEL_DIED, NOT_RUN, TAMPERED, TIMED_OUT

__all__ = [
    "SandboxLimits",
    "SandboxUnavailable",
    "SandboxedExecute",
    "allow_unsandboxed_from_env",
    "read_only_paths",
    "run_notebook",
    "sandbox_command",
    "sandbox_status",
]

#: The working folder's path inside the sandbox (a fixed name in the sandbox's own file system).
SANDBOX_HOME = "/home/student"
#: Where the submission's other files are bound read-only inside the sandbox (copied into the home).
FILES_DIR = "/srv/submission"
#: Environment variables that never enter the sandbox, even with a ``COURSE_`` prefix.
SECRET_PATTERN = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.I)
#: Settings that stay with the grader: consent to grade unsandboxed, and where private held-out data lives.
PRIVATE_VARIABLES = {"COURSE_ALLOW_UNSANDBOXED", "COURSE_HELD_OUT", "COURSE_HELD_OUT_SHA256"}
#: Extra seconds the grader waits beyond a limit before it kills the sandbox itself.
GRACE_SECONDS = 10.0
#: Fresh uids for sandboxed runs come from this range (unprivileged, unlikely to own anything).
UID_RANGE = (200_000, 900_000)


class SandboxUnavailable(RuntimeError):
    """Isolation is not available here, and an unsandboxed run was not explicitly allowed."""


# --------------------------------------------------------------------------- what the sandbox sees


def course_packages() -> dict[str, Path]:
    """The folders of the course packages *this* grader imported (a course folder may hold copies)."""
    import autograder
    import labeling_labs

    return {"autograder": Path(autograder.__file__).resolve().parent,
            "labeling_labs": Path(labeling_labs.__file__).resolve().parent}


def import_path() -> str:
    """``PYTHONPATH`` inside the sandbox: the parents of the bound course packages, so that the runner and
    the kernel import exactly the code the grader bound (ahead of any installed or editable copy)."""
    parents: list[str] = []
    for folder in course_packages().values():
        if str(folder.parent) not in parents:
            parents.append(str(folder.parent))
    return os.pathsep.join(parents)


def _course_paths() -> list[Path]:
    from labeling_labs.resources import data_root

    return [*course_packages().values(), data_root()]


def read_only_paths() -> list[Path]:
    """Folders bound read-only: the interpreter, the venv, the course packages and the fetched data."""
    candidates = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix),
                  Path(os.path.realpath(sys.executable)).parent.parent]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            candidates.append(Path(path))
    candidates += _course_paths()
    for system_dir in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.isdir(system_dir) and not os.path.islink(system_dir):
            candidates.append(Path(system_dir))
    resolved = []
    for path in candidates:
        path = Path(os.path.realpath(path))
        if path.is_dir() and path not in resolved:
            resolved.append(path)
    # keep only the outermost folders: a bind of /usr already holds /usr/lib/python3
    resolved.sort(key=lambda p: len(p.parts))
    outer: list[Path] = []
    for path in resolved:
        if not any(path == o or o in path.parents for o in outer):
            outer.append(path)
    if Path("/") in outer:
        raise SandboxUnavailable("the Python installation resolves to '/', which cannot be bound selectively")
    return outer


_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "mime.types")


def sandbox_env(uid: int) -> dict[str, str]:
    """The environment inside the sandbox: an allow-list, never the grader's own environment."""
    env = {
        "HOME": SANDBOX_HOME,
        "USER": "student",
        "LOGNAME": "student",
        "PATH": os.pathsep.join([str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": import_path(),
        "MPLBACKEND": "agg",
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config",
        "IPYTHONDIR": "/tmp/ipython",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "XDG_CACHE_HOME": "/tmp/cache",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name, value in os.environ.items():
        if name.startswith("COURSE_") and not SECRET_PATTERN.search(name) and name not in PRIVATE_VARIABLES:
            env[name] = value
    if os.environ.get("NBGRADER_EXECUTION"):
        env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    return env


def sandbox_command(workdir: Path, limits: SandboxLimits, *, uid: int, etc_dir: Path,
                    inner: list[str], cgroup: SandboxCgroup | None = None) -> list[str]:
    """The ``launcher … prlimit … bwrap --seccomp … setpriv … <inner>`` command line for one run.

    The launcher (``/bin/sh``) opens the socket filter (:func:`~autograder.grading.limits.socket_filter`,
    written into ``etc_dir``, which the sandbox never sees) on descriptor
    :data:`~autograder.grading.limits.SECCOMP_FD` for bubblewrap and, given an entered ``cgroup``, moves
    itself into that group first, so that every process of the sandbox is in it. Then it ``exec``s
    ``prlimit`` (same pid: the caller's process-group and wait logic are unchanged)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: `apt-get install bubblewrap`)")
    root = os.geteuid() == 0
    cmd = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not root:  # without root, a user namespace is the only way in; the uid stays ours
        cmd += ["--unshare-user", "--uid", str(os.getuid()), "--gid", str(os.getgid())]
    made: set[str] = {"/"}
    binds = read_only_paths()

    def ensure_parents(path: Path) -> None:
        for parent in reversed(path.parents):
            text = str(parent)
            if text in made or any(parent == b or b in parent.parents for b in binds):
                continue
            cmd.extend(["--perms", "0755", "--dir", text])
            made.add(text)

    for system_dir in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(system_dir):
            cmd += ["--symlink", os.readlink(system_dir), system_dir]
            made.add(system_dir)
    # Every writable place is a size-limited tmpfs that vanishes with the sandbox, so no notebook can fill
    # the grader's disk (RLIMIT_FSIZE alone bounds one file, not their number). They are mounted *first*:
    # bubblewrap applies its arguments in order, so a read-only bind made before a tmpfs on /tmp (a venv or
    # a course under /tmp, /dev/shm or the home) would vanish under it. The working folder's files are
    # bound read-only at FILES_DIR and the runner copies them into the home before the kernel starts.
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.shm_size_mb * 2**20), "--tmpfs", "/dev/shm",
            "--perms", "1777", "--size", str(limits.tmp_size_mb * 2**20), "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", "/home",
            "--perms", "1777", "--size", str(limits.home_size_mb * 2**20), "--tmpfs", SANDBOX_HOME]
    made.update({"/proc", "/dev", "/dev/shm", "/tmp", "/home", SANDBOX_HOME})
    for path in binds:
        if path == Path(SANDBOX_HOME) or Path(SANDBOX_HOME) in path.parents:
            raise SandboxUnavailable(f"{path} lies in the sandbox's own home folder {SANDBOX_HOME}, which the "
                                     "sandbox replaces: install the course elsewhere")
        ensure_parents(path)
        cmd += ["--ro-bind", str(path), str(path)]
        made.add(str(path))
    cmd += ["--perms", "0755", "--dir", "/etc"]
    made.add("/etc")
    for name in _ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--ro-bind", str(etc_dir / "passwd"), "/etc/passwd", "--ro-bind", str(etc_dir / "group"), "/etc/group"]
    cmd += ["--perms", "0755", "--dir", str(Path(FILES_DIR).parent),
            "--ro-bind", str(workdir), FILES_DIR, "--chdir", SANDBOX_HOME, "--clearenv"]
    for name, value in sandbox_env(uid).items():
        cmd += ["--setenv", name, value]
    cmd.append("--")
    if root:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable("`setpriv` (util-linux) is needed to drop root inside the sandbox")
        cmd += [setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--inh-caps", "-all",
                "--bounding-set", "-all", "--no-new-privs"]
    try:
        socket_filter = write_socket_filter(etc_dir)
    except RuntimeError as error:  # an architecture the filter does not know
        raise SandboxUnavailable(str(error)) from error
    # bubblewrap loads the filter last, just before it runs setpriv: nothing in the sandbox runs without it
    cmd[1:1] = ["--seccomp", str(SECCOMP_FD)]
    command = _prlimit(limits, nproc_base=0 if root else _process_count(os.getuid())) + cmd + inner
    join = cgroup.procs_files() if cgroup is not None and cgroup.active else []
    return launcher(command, join=join, open_fds={SECCOMP_FD: socket_filter})


def _process_count(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    for line in status:
                        if line.startswith("Uid:"):
                            count += int(line.split()[1]) == uid
                            break
            except OSError:
                continue
    return count


def _prlimit(limits: SandboxLimits, nproc_base: int = 0) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SandboxUnavailable("`prlimit` (util-linux) is needed to limit the sandbox's resources")
    cpu = int(limits.notebook_timeout + limits.startup_timeout)
    return [prlimit, f"--as={limits.memory_mb * 2**20}", f"--cpu={cpu}",
            f"--fsize={limits.file_size_mb * 2**20}", f"--nofile={limits.max_open_files}",
            f"--nproc={nproc_base + limits.max_processes}", "--core=0", "--"]


_STATUS_CACHE: tuple[bool, str] | None = None


def sandbox_status(refresh: bool = False) -> tuple[bool, str]:
    """``(True, "bubblewrap …")`` if a sandbox can be made here, else ``(False, reason)``.

    The probe is the real thing: the sandbox this grader would make, with an interpreter inside that
    imports the course packages and reports where it found them; they must be the folders the
    grader bound (a course folder may hold copies of its own). The reason names the cause: a
    missing program, bubblewrap's own error, or a package imported from elsewhere.
    """
    global _STATUS_CACHE
    if _STATUS_CACHE is not None and not refresh:
        return _STATUS_CACHE
    if not sys.platform.startswith("linux"):
        _STATUS_CACHE = (False, f"the sandbox needs Linux (bubblewrap); this is {sys.platform}")
        return _STATUS_CACHE
    probe = ("import os, socket, autograder, labeling_labs\n"
             "try:\n    socket.socket(socket.AF_UNIX).close(); unix = 'open'\n"
             "except PermissionError:\n    unix = 'refused'\n"
             "print(os.getuid(), unix, os.path.dirname(autograder.__file__), os.path.dirname(labeling_labs.__file__))")
    try:
        with (tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp,
              SandboxCgroup.for_limits(SandboxLimits(), quiet=True) as group):
            work, etc = _prepare_dirs(Path(tmp), uid := _fresh_uid())
            cmd = sandbox_command(work, SandboxLimits(), uid=uid, etc_dir=etc, cgroup=group,
                                  inner=[sys.executable, "-s", "-P", "-c", probe])
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            error = done.stderr.strip()[-400:] or f"exit code {done.returncode}, no message"
            _STATUS_CACHE = (False, f"bubblewrap is installed but could not run the grader's interpreter in a "
                                    f"sandbox: {error}")
        else:
            inner_uid, unix, *found = done.stdout.split()
            expected = [str(p) for p in course_packages().values()]
            if found != expected:
                _STATUS_CACHE = (False, f"inside the sandbox the course packages were imported from {found}, not "
                                        f"from the folders the grader bound ({expected})")
            elif unix != "refused":
                _STATUS_CACHE = (False, "the sandbox's seccomp filter is not in force: a unix socket could be "
                                        "created inside it")
            else:
                cgroups_ok, cgroups = cgroup_support()
                _STATUS_CACHE = (True, f"bubblewrap sandbox (inner uid {inner_uid}; unix sockets and io_uring "
                                       "refused by seccomp; "
                                       + (cgroups if cgroups_ok else f"NO CGROUP LIMITS: {cgroups}") + ")")
    except SandboxUnavailable as error:
        _STATUS_CACHE = (False, str(error))
    except (OSError, subprocess.SubprocessError) as error:
        _STATUS_CACHE = (False, f"bubblewrap could not start: {error}")
    return _STATUS_CACHE


def refusal(why: str) -> SandboxUnavailable:
    """The one refusal to grade without a sandbox: what went wrong, and the explicit way out."""
    return SandboxUnavailable(f"refusing to run student code without a sandbox: {why}. To grade WITHOUT "
                              "isolation anyway, pass --unsandboxed (or set COURSE_ALLOW_UNSANDBOXED=1).")


def _fresh_uid() -> int:
    if os.geteuid() != 0:
        return os.getuid()
    return UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])


def _prepare_dirs(base: Path, uid: int) -> tuple[Path, Path]:
    work = base / "work"
    etc = base / "etc"
    work.mkdir(exist_ok=True)
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(f"student:x:{uid}:{uid}:student:{SANDBOX_HOME}:/bin/sh\n")
    (etc / "group").write_text(f"student:x:{uid}:\n")
    for path in (etc / "passwd", etc / "group"):
        path.chmod(0o644)
    base.chmod(0o711)
    etc.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(work, uid, uid)
    work.chmod(0o700)
    return work, etc


# --------------------------------------------------------------------------- running a notebook


@dataclass
class RunReport:
    """What happened to one notebook: the grader's record, for the log and the export."""

    sandboxed: bool
    status: str = "ok"  # ok | kernel-died | cell-timeout | notebook-timeout | runner-error
    reason: str = ""
    cells_run: int = 0
    code_cells: int = 0
    seconds: float = 0.0
    kernel_startup_seconds: float = 0.0
    cell_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    isolation: str = ""
    #: Cells the grader stopped or refused while the kernel lived on (a timeout, a tampered environment).
    problems: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def run_notebook(nb: nbformat.NotebookNode, source_dir: str | os.PathLike | None, limits: SandboxLimits, *,
                 sandboxed: bool = True, guard: bool = True, log=None) -> tuple[nbformat.NotebookNode, RunReport]:
    """Execute ``nb`` in a fresh sandbox whose working folder is a copy of ``source_dir``
    (without its notebooks); return the executed notebook and a :class:`RunReport`.

    Never raises because of what the notebook does; raises :class:`SandboxUnavailable` if
    ``sandboxed`` and no sandbox can be made here.
    """
    if sandboxed:
        ok, why = sandbox_status()
        if not ok:
            raise refusal(why)
    report = RunReport(sandboxed=sandboxed)
    report.isolation = sandbox_status()[1] if sandboxed else "NONE: unsandboxed run (separate process, rlimits only)"
    executed = copy.deepcopy(nb)
    code_indices = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    report.code_cells = len(code_indices)
    returned: set[int] = set()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-run-") as tmp:
        uid = _fresh_uid() if sandboxed else os.getuid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        if source_dir:
            _copy_working_files(Path(source_dir), work, uid if sandboxed else None)
        inner = [sys.executable, "-s", "-P", "-m", "autograder.grading.runner"]
        if sandboxed:
            cmd = sandbox_command(work, limits, uid=uid, etc_dir=etc, inner=inner)
            env = None
            cwd = None
        else:
            cmd = _prlimit(limits, nproc_base=_process_count(os.getuid())) + inner
            env = {k: v for k, v in sandbox_env(uid).items() if k not in {"HOME"}}
            env.update({"HOME": str(work), "TMPDIR": str(work / ".tmp"), "JUPYTER_RUNTIME_DIR": str(work / ".tmp"),
                        "IPYTHONDIR": str(work / ".tmp" / "ipython"), "MPLCONFIGDIR": str(work / ".tmp"),
                        "JUPYTER_DATA_DIR": str(work / ".tmp"), "JUPYTER_CONFIG_DIR": str(work / ".tmp"),
                        "XDG_CACHE_HOME": str(work / ".tmp")})
            (work / ".tmp").mkdir()
            cwd = str(work)
        job = {
            "notebook": nb,
            "cell_timeout": limits.cell_timeout,
            "notebook_timeout": limits.notebook_timeout,
            "startup_timeout": limits.startup_timeout,
            "max_output_bytes": limits.max_output_bytes,
            "guard": guard,
            "files_from": FILES_DIR if sandboxed else "",
        }
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True)
        stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        err_thread = threading.Thread(target=_drain, args=(proc.stderr, stderr_tail), daemon=True)
        err_thread.start()
        try:
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        failure = _follow(proc, executed, limits, report, returned, started)
        # a finished runner shuts its kernel down and reaps it (so its peak memory is counted); give it a moment
        rusage_status = _reap(proc, grace=15.0 if failure is None else 0.0)
        # the kernel's own figures (sent with each cell) and the largest process the sandbox reaped
        report.peak_memory_mb = round(max(report.peak_memory_mb, rusage_status / 1024), 1)
        err_thread.join(timeout=5)
        if failure is None and len(returned) < len(code_indices):
            failure = ("runner-error", "the sandbox stopped before the end of the notebook: "
                       + (" | ".join(list(stderr_tail)[-3:]) or "no message"))
        if failure is not None:
            report.status, report.reason = failure
            _mark_unfinished(executed, code_indices, returned, report.reason)
        report.cells_run = len(returned)
        for index in code_indices:
            for output in executed.cells[index].outputs:
                if output.get("output_type") == "error" and output.get("ename") in (TIMED_OUT, TAMPERED):
                    report.problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
        report.seconds = round(time.monotonic() - started, 3)
        if log is not None and report.status != "ok":
            log.warning("Notebook stopped early (%s): %s", report.status, report.reason)
    return executed, report


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


def _follow(proc, executed, limits: SandboxLimits, report: RunReport, returned: set[int],
            started: float) -> tuple[str, str] | None:
    """Read the runner's events until it ends; enforce the wall-clock limits. Returns a failure or None."""
    buffer = b""
    fd = proc.stdout.fileno()
    startup_deadline = started + limits.startup_timeout + GRACE_SECONDS
    notebook_deadline = None
    cell_deadline = None
    current = None
    while True:
        now = time.monotonic()
        deadlines = [d for d in (startup_deadline if notebook_deadline is None else None, notebook_deadline,
                                 cell_deadline) if d is not None]
        wait = max(0.0, min(deadlines) - now) if deadlines else 1.0
        ready, _, _ = select.select([fd], [], [], min(wait, 1.0))
        now = time.monotonic()
        if not ready:
            if notebook_deadline is None and now > startup_deadline:
                return ("runner-error", f"the kernel did not start within {limits.startup_timeout:g} s")
            if notebook_deadline is not None and now > notebook_deadline:
                return ("notebook-timeout", f"the notebook ran longer than its {limits.notebook_timeout:g} s limit")
            if cell_deadline is not None and now > cell_deadline:
                return ("cell-timeout", f"cell {current} ran longer than {limits.cell_timeout:g} s and did not stop "
                        "when interrupted; the sandbox was killed")
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if isinstance(event.get("kernel_peak_mb"), (int, float)):
                report.peak_memory_mb = max(report.peak_memory_mb, float(event["kernel_peak_mb"]))
            report.events.append(kind if kind != "cell" else f"cell {event.get('index')}")
            if kind == "started":
                report.kernel_startup_seconds = float(event.get("seconds", 0))
                notebook_deadline = started + limits.startup_timeout + limits.notebook_timeout + GRACE_SECONDS
            elif kind == "cell-start":
                current = int(event["index"])
                cell_deadline = time.monotonic() + limits.cell_timeout + GRACE_SECONDS
            elif kind == "cell":
                index = int(event["index"])
                if 0 <= index < len(executed.cells) and executed.cells[index].cell_type == "code":
                    cell = event["cell"]
                    # only outputs come back: source and metadata stay the grader's
                    executed.cells[index].outputs = [nbformat.from_dict(o) for o in cell.get("outputs", [])]
                    executed.cells[index].execution_count = cell.get("execution_count")
                    returned.add(index)
                    report.cell_seconds += float(event.get("seconds", 0) or 0)
                cell_deadline = None
            elif kind == "kernel-died":
                return ("kernel-died", f"cell {event.get('index')}: {event.get('reason')}")
            elif kind == "notebook-timeout":
                return ("notebook-timeout", event.get("reason", "the notebook ran too long"))
            elif kind == "runner-error":
                return ("runner-error", event.get("reason", "the runner failed"))
    report.cell_seconds = round(report.cell_seconds, 3)
    return None


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
            cell.outputs = [nbformat.from_dict({"output_type": "error", "ename": KERNEL_DIED, "evalue": reason,
                                                "traceback": [f"{KERNEL_DIED}: {reason}"]})]
            first = False
        else:
            text = "this cell was not run because the notebook stopped earlier (" + reason + ")"
            cell.outputs = [nbformat.from_dict({"output_type": "error", "ename": NOT_RUN, "evalue": text,
                                                "traceback": [f"{NOT_RUN}: {text}"]})]
        cell.execution_count = None


# --------------------------------------------------------------------------- nbgrader plug-in

try:
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Bool, Float, Integer
except ImportError:  # pragma: no cover - nbgrader is a course requirement
    NbGraderPreprocessor = object  # type: ignore[misc,assignment]


REPORT_NAME = ".grading-{notebook}.json"


class SandboxedExecute(NbGraderPreprocessor):  # type: ignore[misc,valid-type]
    """nbgrader's execute step, in the sandbox: ``c.Autograde.autograde_preprocessors`` uses it
    instead of ``nbgrader.preprocessors.Execute``. Writes a report beside the autograded notebook."""

    timeout = Float(300.0, help="Per-cell wall-clock limit, seconds.").tag(config=True)
    notebook_timeout = Float(1800.0, help="Per-notebook wall-clock limit, seconds.").tag(config=True)
    memory_mb = Integer(3072, help="Address-space limit per process, MB.").tag(config=True)
    max_processes = Integer(256, help="Processes and threads the sandbox's user may have.").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="Output kept per cell, bytes.").tag(config=True)
    unsandboxed = Bool(False, help="Grade WITHOUT isolation where bubblewrap is unavailable.").tag(config=True)

    def preprocess(self, nb, resources):
        limits = SandboxLimits.from_env(cell_timeout=self.timeout, notebook_timeout=self.notebook_timeout,
                                        memory_mb=self.memory_mb, max_processes=self.max_processes,
                                        max_output_bytes=self.max_output_bytes)
        path = resources.get("metadata", {}).get("path") or None
        sandboxed = True
        if self.unsandboxed or allow_unsandboxed_from_env():
            ok, why = sandbox_status()
            sandboxed = False
            self.log.warning("!" * 78)
            self.log.warning("UNSANDBOXED GRADING: student code runs WITHOUT isolation (%s)",
                             "sandbox available but not used" if ok else why)
            self.log.warning("!" * 78)
        executed, report = run_notebook(nb, path, limits, sandboxed=sandboxed, log=self.log)
        nbinfo = resources.get("nbgrader", {})
        if path:
            target = Path(path) / REPORT_NAME.format(notebook=nbinfo.get("notebook", "notebook"))
            record = report.to_dict()
            record.update({"student": nbinfo.get("student"), "assignment": nbinfo.get("assignment"),
                           "notebook": nbinfo.get("notebook"),
                           # this nbgrader process's own peak (the sandbox's is peak_memory_mb)
                           "grader_peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
            target.write_text(json.dumps(record, indent=1))
        if report.status != "ok":
            self.log.warning("%s / %s: %s", nbinfo.get("student"), nbinfo.get("notebook"), report.reason)
        return executed, resources
