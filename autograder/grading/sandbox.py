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
          python -s -P -m autograder.grading.runner   (nbclient + the Jupyter kernel)

- Read-only binds are derived from the running interpreter (``sys.prefix``,
  ``sys.base_prefix``, ``sysconfig``) and from the course packages' own
  locations (``labeling_labs/``, ``autograder/``, the fetched ``data/``): never
  the repository root, so ``solutions/``, ``gradebook.db`` and ``submitted/``
  do not exist inside the sandbox.
- The uid is unprivileged and fresh for each run, so ``RLIMIT_NPROC`` (which
  Linux never enforces for root) stops a fork bomb without starving the other
  workers.
- When the grader runs as root, the kernel is not started by the runner but forked from a warm
  server and moved into this sandbox's namespaces, cgroup, identity and filter
  (:mod:`autograder.grading.warm`); the sandbox itself is made exactly as above.
- Only an allow-list of environment variables goes in (``COURSE_*`` without
  secret-looking names, locale, thread counts), never the grader's environment.
- The runner streams each executed cell back as soon as it has run, and the
  grader kills the whole sandbox when a cell or the notebook exceeds its
  wall-clock limit: cells before the failure keep their credit, every cell
  from the failure on gets an error output (0 points) that says why.

Where bubblewrap is missing or does not work, grading refuses with
:class:`SandboxUnavailable` (:func:`refusal` says the real cause), unless the
caller asks for an unsandboxed run (``--unsandboxed`` or
``COURSE_ALLOW_UNSANDBOXED=1``); the notebook then still runs in a separate,
resource-limited process, and the report says ``sandboxed: false``.

This module builds the sandbox; :mod:`autograder.grading.execute` runs a
notebook in it (and its test cells in the checker, outside it).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from autograder.grading.config import SandboxLimits
from autograder.grading.limits import SECCOMP_FD, SandboxCgroup, cgroup_support, launcher, write_socket_filter

__all__ = [
    "SandboxUnavailable",
    "course_packages",
    "import_path",
    "read_only_paths",
    "refusal",
    "rlimits",
    "sandbox_command",
    "sandbox_env",
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
#: Fresh uids for sandboxed runs come from this range (unprivileged, unlikely to own anything).
UID_RANGE = (200_000, 900_000)


class SandboxUnavailable(RuntimeError):
    """Isolation is not available here, and an unsandboxed run was not explicitly allowed."""


# --------------------------------------------------------------------------- what the sandbox sees


def course_packages() -> dict[str, Path]:
    """The folders of the course packages *this* grader imported (a course folder may hold copies)."""
    import autograder
    import labeling_labs

    return {
        "autograder": Path(autograder.__file__).resolve().parent,
        "labeling_labs": Path(labeling_labs.__file__).resolve().parent,
    }


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
    candidates = [
        Path("/usr"),
        Path(sys.base_prefix),
        Path(sys.prefix),
        Path(os.path.realpath(sys.executable)).parent.parent,
    ]
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


def sandbox_command(
    workdir: Path,
    limits: SandboxLimits,
    *,
    uid: int,
    etc_dir: Path,
    inner: list[str],
    cgroup: SandboxCgroup | None = None,
) -> list[str]:
    """The ``launcher … prlimit … bwrap --seccomp … setpriv … <inner>`` command line for one run.

    The launcher (``/bin/sh``) opens the socket filter (:func:`~autograder.grading.limits.socket_filter`,
    written into ``etc_dir``, which the sandbox never sees) on descriptor
    :data:`~autograder.grading.limits.SECCOMP_FD` for bubblewrap and, given an entered ``cgroup``, moves
    itself into that group first, so that every process of the sandbox is in it. Then it ``exec``s
    ``prlimit`` (same pid: the caller's process-group and wait logic are unchanged)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: `apt-get install bubblewrap`)"
        )
    root = os.geteuid() == 0
    cmd = [
        bwrap,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
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
    cmd += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.shm_size_mb * 2**20),
        "--tmpfs",
        "/dev/shm",
        "--perms",
        "1777",
        "--size",
        str(limits.tmp_size_mb * 2**20),
        "--tmpfs",
        "/tmp",
        "--perms",
        "0755",
        "--dir",
        "/home",
        "--perms",
        "1777",
        "--size",
        str(limits.home_size_mb * 2**20),
        "--tmpfs",
        SANDBOX_HOME,
    ]
    made.update({"/proc", "/dev", "/dev/shm", "/tmp", "/home", SANDBOX_HOME})
    for path in binds:
        if path == Path(SANDBOX_HOME) or Path(SANDBOX_HOME) in path.parents:
            raise SandboxUnavailable(
                f"{path} lies in the sandbox's own home folder {SANDBOX_HOME}, which the "
                "sandbox replaces: install the course elsewhere"
            )
        ensure_parents(path)
        cmd += ["--ro-bind", str(path), str(path)]
        made.add(str(path))
    cmd += ["--perms", "0755", "--dir", "/etc"]
    made.add("/etc")
    for name in _ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cmd += [
        "--ro-bind",
        str(etc_dir / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(etc_dir / "group"),
        "/etc/group",
    ]
    cmd += [
        "--perms",
        "0755",
        "--dir",
        str(Path(FILES_DIR).parent),
        "--ro-bind",
        str(workdir),
        FILES_DIR,
        "--chdir",
        SANDBOX_HOME,
        "--clearenv",
    ]
    for name, value in sandbox_env(uid).items():
        cmd += ["--setenv", name, value]
    cmd.append("--")
    if root:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable("`setpriv` (util-linux) is needed to drop root inside the sandbox")
        cmd += [
            setpriv,
            "--reuid",
            str(uid),
            "--regid",
            str(uid),
            "--clear-groups",
            "--inh-caps",
            "-all",
            "--bounding-set",
            "-all",
            "--no-new-privs",
        ]
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


def rlimits(limits: SandboxLimits, nproc_base: int = 0) -> dict[str, int]:
    """The resource limits of every process in a sandbox, by ``prlimit`` option name."""
    return {
        "as": limits.memory_mb * 2**20,
        "cpu": int(limits.notebook_timeout + limits.startup_timeout),
        "fsize": limits.file_size_mb * 2**20,
        "nofile": limits.max_open_files,
        "nproc": nproc_base + limits.max_processes,
        "core": 0,
    }


def _prlimit(limits: SandboxLimits, nproc_base: int = 0) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SandboxUnavailable("`prlimit` (util-linux) is needed to limit the sandbox's resources")
    return [prlimit, *(f"--{name}={value}" for name, value in rlimits(limits, nproc_base).items()), "--"]


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
    probe = (
        "import os, socket, autograder, labeling_labs\n"
        "try:\n    socket.socket(socket.AF_UNIX).close(); unix = 'open'\n"
        "except PermissionError:\n    unix = 'refused'\n"
        "print(os.getuid(), unix, os.path.dirname(autograder.__file__), os.path.dirname(labeling_labs.__file__))"
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp,
            SandboxCgroup.for_limits(SandboxLimits(), quiet=True) as group,
        ):
            work, etc = _prepare_dirs(Path(tmp), uid := _fresh_uid())
            cmd = sandbox_command(
                work,
                SandboxLimits(),
                uid=uid,
                etc_dir=etc,
                cgroup=group,
                inner=[sys.executable, "-s", "-P", "-c", probe],
            )
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            error = done.stderr.strip()[-400:] or f"exit code {done.returncode}, no message"
            _STATUS_CACHE = (
                False,
                f"bubblewrap is installed but could not run the grader's interpreter in a sandbox: {error}",
            )
        else:
            inner_uid, unix, *found = done.stdout.split()
            expected = [str(p) for p in course_packages().values()]
            if found != expected:
                _STATUS_CACHE = (
                    False,
                    f"inside the sandbox the course packages were imported from {found}, not "
                    f"from the folders the grader bound ({expected})",
                )
            elif unix != "refused":
                _STATUS_CACHE = (
                    False,
                    "the sandbox's seccomp filter is not in force: a unix socket could be created inside it",
                )
            else:
                cgroups_ok, cgroups = cgroup_support()
                _STATUS_CACHE = (
                    True,
                    f"bubblewrap sandbox (inner uid {inner_uid}; unix sockets and io_uring "
                    "refused by seccomp; "
                    + (cgroups if cgroups_ok else f"NO CGROUP LIMITS: {cgroups}")
                    + ")",
                )
    except SandboxUnavailable as error:
        _STATUS_CACHE = (False, str(error))
    except (OSError, subprocess.SubprocessError) as error:
        _STATUS_CACHE = (False, f"bubblewrap could not start: {error}")
    return _STATUS_CACHE


def refusal(why: str) -> SandboxUnavailable:
    """The one refusal to grade without a sandbox: what went wrong, and the explicit way out."""
    return SandboxUnavailable(
        f"refusing to run student code without a sandbox: {why}. To grade WITHOUT "
        "isolation anyway, pass --unsandboxed (or set COURSE_ALLOW_UNSANDBOXED=1)."
    )


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
