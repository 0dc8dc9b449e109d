"""What the kernel enforces around a sandbox beyond its namespaces: the socket filter (seccomp) and the
per-sandbox cgroup (autograder.grading.limits). Real bubblewrap, real cgroups, real kernels; no mocks.

Each hostile case has a control that shows the case would succeed without the protection, so that a
protection that silently stopped working fails a test.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import nbformat
import pytest
from support.capabilities import require_cgroups, require_sandbox

from autograder.grading import limits as limits_module
from autograder.grading.config import SandboxLimits
from autograder.grading.limits import SECCOMP_FD, SandboxCgroup, cgroup_support, launcher, socket_filter
from autograder.grading.sandbox import FILES_DIR, _fresh_uid, _prepare_dirs, sandbox_command

SMALL = SandboxLimits(memory_mb=1024, max_processes=32)


def _command(work: Path, etc: Path, uid: int, code: str, limits: SandboxLimits = SMALL, cgroup=None):
    return sandbox_command(
        work, limits, uid=uid, etc_dir=etc, cgroup=cgroup, inner=[sys.executable, "-c", code]
    )


def _without_filter(cmd: list[str]) -> list[str]:
    """The same sandbox without the socket filter (the control): bubblewrap's ``--seccomp FD`` left out."""
    at = cmd.index("--seccomp")
    assert cmd[at + 1] == str(SECCOMP_FD)
    return cmd[:at] + cmd[at + 2 :]


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- the socket filter


def test_the_filter_is_whole_instructions_for_each_known_architecture():
    for machine in ("x86_64", "aarch64"):
        program = socket_filter(machine)
        assert len(program) % 8 == 0 and 8 < len(program) // 8 < 64
    assert socket_filter("x86_64") != socket_filter("aarch64")
    with pytest.raises(RuntimeError, match="no socket filter for the sparc64 architecture"):
        socket_filter("sparc64")


def test_the_launcher_passes_paths_as_arguments_and_stops_when_a_step_fails(tmp_path):
    odd = tmp_path / "a folder with 'quotes' and $dollars"
    odd.mkdir()
    (odd / "data").write_text("seen through fd 7\n")
    done = _run(launcher(["/bin/sh", "-c", "cat <&7"], open_fds={7: odd / "data"}))
    assert done.returncode == 0 and done.stdout == "seen through fd 7\n", done.stderr
    done = _run(launcher(["/bin/echo", "ran"], join=[tmp_path / "missing" / "cgroup.procs"]))
    assert done.returncode == 125 and "ran" not in done.stdout


class _UnixServer:
    """A unix socket server on the host that counts the connections it accepts."""

    def __init__(self, address: str | bytes):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address)
        if isinstance(address, str):
            os.chmod(address, 0o777)  # any uid may connect: only the filter stands in the way
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.sendall(b"host secret\n")
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


_CONNECT = textwrap.dedent(
    """
    import socket
    for family, address in {targets!r}:
        abstract = isinstance(address, str) and address.startswith("\\0")
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(3)
            s.connect(address.encode("latin-1") if abstract else address)
            print("CONNECTED", ascii(address), s.recv(100))
        except OSError as error:
            print("refused", ascii(address), type(error).__name__, error.errno)
    """
)


def test_no_host_socket_is_reachable_not_even_a_unix_socket_in_a_bound_folder():
    require_sandbox()
    with tempfile.TemporaryDirectory(prefix="course-limits-") as tmp:
        uid = _fresh_uid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        path_server = _UnixServer(str(work / "service.sock"))  # bound read-only at FILES_DIR
        abstract_name = f"\0course-test-{os.getpid()}"
        abstract_server = _UnixServer(abstract_name.encode("latin-1"))
        tcp = socket.create_server(("127.0.0.1", 0))
        tcp.settimeout(0.2)
        targets = [
            (int(socket.AF_UNIX), f"{FILES_DIR}/service.sock"),
            (int(socket.AF_UNIX), abstract_name),
            (int(socket.AF_INET), ("127.0.0.1", tcp.getsockname()[1])),
        ]
        code = _CONNECT.format(targets=targets)
        try:
            done = _run(_command(work, etc, uid, code))
            control = _run(_without_filter(_command(work, etc, uid, code)))
        finally:
            path_server.close()
            abstract_server.close()
            tcp.close()
    assert done.returncode == 0, done.stderr
    assert "CONNECTED" not in done.stdout, done.stdout
    assert f"refused '{FILES_DIR}/service.sock' PermissionError 13" in done.stdout  # the filter's EACCES
    assert path_server.accepted == 1 and abstract_server.accepted == 0
    # the control: without the filter the socket file in the bound folder answers; the namespaces
    # alone keep the abstract socket and the host's TCP out of reach
    assert f"CONNECTED '{FILES_DIR}/service.sock' b'host secret\\n'" in control.stdout, (
        control.stdout + control.stderr
    )
    assert control.stdout.count("CONNECTED") == 1


def test_what_the_kernel_needs_still_works_and_io_uring_does_not():
    require_sandbox()
    code = textwrap.dedent(
        """
        import asyncio, ctypes, os, socket
        a, b = socket.socketpair(); a.sendall(b'pair'); print('socketpair', b.recv(4))
        server = socket.create_server(('127.0.0.1', 0)); port = server.getsockname()[1]
        client = socket.create_connection(('127.0.0.1', port)); conn, _ = server.accept()
        client.sendall(b'loop'); print('loopback', conn.recv(4))
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close(); print('inet6 ok')
        socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM).close(); print('netlink ok')
        async def main():
            await asyncio.sleep(0)
            return 'asyncio ok'
        print(asyncio.run(main()))
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)
        print('io_uring', libc.syscall(425, 4, params), ctypes.get_errno())
        for family in (socket.AF_UNIX, socket.AF_PACKET, 40):  # 40: AF_VSOCK, the way to a VM's host
            try:
                socket.socket(family, socket.SOCK_STREAM).close(); print(family, 'opened')
            except OSError as error:
                print(family, 'refused', error.errno)
        """
    )
    with tempfile.TemporaryDirectory(prefix="course-limits-") as tmp:
        uid = _fresh_uid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        done = _run(_command(work, etc, uid, code))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["socketpair b'pair'", "loopback b'loop'", "inet6 ok", "netlink ok", "asyncio ok"]
    assert lines[5] == "io_uring -1 1"  # EPERM
    assert lines[6:] == [f"{socket.AF_UNIX} refused 13", f"{socket.AF_PACKET} refused 13", "40 refused 13"]


def _run_notebook():
    try:  # the orchestration moves from sandbox.py to execute.py; the call stays the same
        from autograder.grading.execute import run_notebook
    except ImportError:
        from autograder.grading.sandbox import run_notebook
    return run_notebook


def test_a_kernel_runs_a_notebook_under_the_filter(tmp_path):
    require_sandbox()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import asyncio, socket\nprint(await asyncio.sleep(0, 'asyncio ok'))"),
        nbformat.v4.new_code_cell(
            "import multiprocessing\nwith multiprocessing.Pool(2) as pool:\n    print(sum(pool.map(abs, [-1, -2, 3])))"
        ),
        nbformat.v4.new_code_cell(
            "try:\n    socket.socket(socket.AF_UNIX)\nexcept PermissionError as error:\n    print('refused', error.errno)"
        ),
    ]
    executed, report = _run_notebook()(
        nb, tmp_path, SandboxLimits(cell_timeout=30, notebook_timeout=120, memory_mb=2048, max_processes=64)
    )
    assert report.status == "ok", report.reason
    texts = ["".join(o.get("text", "") for o in cell.outputs) for cell in executed.cells]
    assert texts == ["asyncio ok\n", "6\n", "refused 13\n"], [cell.outputs for cell in executed.cells]


# --------------------------------------------------------------------------- cgroups


def test_a_sandbox_runs_inside_its_group_with_the_limits_applied():
    require_sandbox()
    require_cgroups()
    code = "import sys, time\nprint('ready', flush=True)\nsys.stdin.read()"
    with tempfile.TemporaryDirectory(prefix="course-limits-") as tmp:
        uid = _fresh_uid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        with SandboxCgroup(2048, max_tasks=40) as group:
            assert group.active, group.reason
            settings = group.settings()
            if group.versions["memory"] == 1:
                assert settings["memory.limit_in_bytes"] == str(2048 * 2**20)
            else:
                assert settings["memory.max"] == str(2048 * 2**20)
            assert settings.get("cpu.shares") == "1024" or settings.get("cpu.weight") == "100"
            if "pids" in group.versions:
                assert settings["pids.max"] == "40"
            folders = list(group.folders.values())
            proc = subprocess.Popen(
                _command(work, etc, uid, code, cgroup=group),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                assert proc.stdout.readline() == "ready\n"
                members = group.pids()
                assert (
                    proc.pid in members and len(members) >= 2
                )  # prlimit became bwrap; inside: python; print(members)
                own = Path(f"/proc/{proc.pid}/cgroup").read_text()
                assert group.name in own
            finally:
                proc.stdin.close()
                proc.wait(timeout=30)
        assert all(not folder.exists() for folder in folders)
        assert group.cpu_seconds() is not None and group.peak_memory_mb() > 1


_HOG = textwrap.dedent(
    """
    import os, sys, time
    children = []
    for _ in range({count}):
        pid = os.fork()
        if pid == 0:
            block = b"\\1" * ({mb} * 2**20)  # written, so resident
            time.sleep(4)
            os._exit(0)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(" ".join(map(str, codes)))
    """
)


def _hog(count: int, mb: int, cgroup) -> tuple[list[int], SandboxCgroup | None]:
    limits = SandboxLimits(memory_mb=2048, max_processes=32)
    with tempfile.TemporaryDirectory(prefix="course-limits-") as tmp:
        uid = _fresh_uid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        done = _run(_command(work, etc, uid, _HOG.format(count=count, mb=mb), limits, cgroup), timeout=120)
    assert done.returncode == 0, done.stderr
    return [int(code) for code in done.stdout.split()], cgroup


def test_the_memory_limit_holds_for_all_processes_together():
    require_sandbox()
    require_cgroups()
    # the control: prlimit's per-process limit (2 GB each) lets four processes of 1 GB live together
    codes, _ = _hog(4, 1024, None)
    assert codes == [0, 0, 0, 0]
    with SandboxCgroup(2048, max_tasks=48) as group:
        codes, _ = _hog(4, 1024, group)
        assert codes.count(-9) >= 2, codes  # the kernel's OOM killer, inside the group only
        assert group.oom_kills() >= 2
        assert group.peak_memory_mb() <= 2048
    with SandboxCgroup(2048, max_tasks=48) as group:
        codes, _ = _hog(1, 512, group)
        assert codes == [0] and group.oom_kills() == 0
        assert group.peak_memory_mb() >= 512


def test_leaving_the_group_kills_what_is_left_and_removes_it():
    require_cgroups()
    with SandboxCgroup(256) as group:
        proc = subprocess.Popen(group.wrap(["/bin/sh", "-c", "sleep 300 & sleep 300 & wait"]))
        for _ in range(100):
            if len(group.pids()) >= 3:
                break
            threading.Event().wait(0.05)
        assert len(group.pids()) >= 3
        folders = list(group.folders.values())
    assert proc.wait(timeout=10) == -9
    assert all(not folder.exists() for folder in folders)


def test_without_cgroups_grading_goes_on_and_says_so(monkeypatch, caplog):
    support = limits_module._Support(problems={"memory": "no memory controller (a test)"})
    monkeypatch.setattr(limits_module, "_SUPPORT", support)
    assert cgroup_support() == (
        False,
        "no cgroup memory and cpu control here (memory: no memory controller (a test); cpu: not offered)",
    )
    with caplog.at_level(logging.WARNING, logger="autograder.grading.limits"):
        with SandboxCgroup(1024) as group:
            assert not group.active
            assert group.wrap(["python", "-c", "pass"]) == ["python", "-c", "pass"]
            assert group.preexec() is None and group.peak_memory_mb() is None
    assert "NO CGROUP LIMITS for this sandbox: no cgroup memory and cpu control here" in caplog.text
    assert group.describe().startswith("NO CGROUP: no cgroup memory and cpu control here")
