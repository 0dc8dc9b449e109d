"""The grading sandbox itself: real bubblewrap, real limits, real kernels (no mocks).

The first tests run one-line Python programs in the sandbox (a second each);
the notebook tests start a real Jupyter kernel in it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest
from fixtures.tiny.course import SOURCE as TINY

from autograder.grading.config import SandboxLimits
from autograder.grading.execute import run_notebook
from autograder.grading.protocol import KERNEL_DIED, NOT_RUN
from autograder.grading.sandbox import (
    SandboxUnavailable,
    _fresh_uid,
    _prepare_dirs,
    read_only_paths,
    sandbox_command,
    sandbox_env,
)

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("sandbox")


def in_sandbox(
    code: str, limits: SandboxLimits | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in a fresh sandbox, as the grader would run a kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        uid = _fresh_uid()
        work, etc = _prepare_dirs(Path(tmp), uid)
        cmd = sandbox_command(
            work,
            limits or SandboxLimits(memory_mb=1024, max_processes=32),
            uid=uid,
            etc_dir=etc,
            inner=[sys.executable, "-c", code],
        )
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_read_only_binds_are_the_interpreter_and_course_packages_never_the_repository_root():
    paths = read_only_paths()
    assert REPO not in paths
    assert REPO / "autograder" in paths and REPO / "labeling_labs" in paths
    assert not any(p == REPO / "solutions" or REPO / "solutions" in p.parents for p in paths)
    assert any(Path(sys.prefix).resolve() == p or p in Path(sys.prefix).resolve().parents for p in paths)


def test_environment_is_an_allow_list(monkeypatch):
    monkeypatch.setenv("COURSE_SPACY_MODEL", "some_model")
    monkeypatch.setenv("COURSE_API_TOKEN", "do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    env = sandbox_env(12345)
    assert env["COURSE_SPACY_MODEL"] == "some_model"
    assert "COURSE_API_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HOME"] == "/home/student"


def test_runs_as_an_unprivileged_user_without_capabilities():
    done = in_sandbox(
        "import os; print(os.getuid(), os.geteuid()); "
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
    )
    assert done.returncode == 0, done.stderr
    uid, euid, caps = done.stdout.split()
    assert int(uid) != 0 and int(euid) != 0
    assert int(caps, 16) == 0


def test_cannot_see_solutions_gradebook_or_submissions():
    probe = "import os, json; print(json.dumps([os.path.exists(p) for p in %r]))" % [
        str(REPO / "solutions"),
        str(REPO / "nbgrader_config.py"),
        str(REPO / "gradebook.db"),
        str(REPO / "submitted"),
        str(REPO / "tests"),
    ]
    done = in_sandbox(probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[false, false, false, false, false]"


def test_cannot_write_to_the_course_packages_and_tmp_is_private():
    marker = f"sandbox-probe-{os.getpid()}"
    code = (
        "import os\n"
        f"try:\n    open({str(REPO / 'autograder' / marker)!r}, 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n"
        f"open('/tmp/{marker}', 'w').write('x')\nprint('tmp ok')"
    )
    done = in_sandbox(code)
    assert done.returncode == 0, done.stderr
    assert "ro " in done.stdout and "tmp ok" in done.stdout
    assert not (REPO / "autograder" / marker).exists()
    assert not Path("/tmp", marker).exists()


def test_no_network_not_even_the_hosts_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = (
        f"import socket\nfor host, port in [('127.0.0.1', {port}), ('192.0.2.1', 80)]:\n"
        "    try:\n        socket.create_connection((host, port), timeout=2); print('CONNECTED')\n"
        "    except OSError as e:\n        print('refused', type(e).__name__)\n"
        "print(sorted(n for n in socket.if_nameindex()))"
    )
    done = in_sandbox(code)
    thread.join()
    listener.close()
    assert done.returncode == 0, done.stderr
    assert "CONNECTED" not in done.stdout
    assert done.stdout.count("refused") == 2
    assert accepted == []
    assert "eth" not in done.stdout  # only the sandbox's own loopback device


def test_writes_stop_at_the_size_limits_and_never_reach_the_disk():
    """Many files under the per-file limit still cannot fill the grader's disk: home, /tmp and /dev/shm are
    size-limited tmpfs mounts of the sandbox."""
    code = (
        "import os\nfor folder in ('.', '/tmp', '/dev/shm'):\n    written = 0\n    try:\n"
        "        for i in range(100):\n            with open(os.path.join(folder, f'f{i}'), 'wb') as f:\n"
        "                f.write(bytes(2**20 * 8))\n            written += 8\n"
        "    except OSError as e:\n        print(folder, 'stopped', written, e.errno)\n"
        "    else:\n        print(folder, 'wrote', written)\n"
    )
    limits = SandboxLimits(
        memory_mb=512, max_processes=32, file_size_mb=16, tmp_size_mb=32, home_size_mb=48, shm_size_mb=16
    )
    done = in_sandbox(code, limits=limits)
    assert done.returncode == 0, done.stderr
    stopped = {
        line.split()[0]: int(line.split()[2]) for line in done.stdout.splitlines() if "stopped" in line
    }
    assert set(stopped) == {".", "/tmp", "/dev/shm"}, done.stdout
    assert stopped["."] <= 48 and stopped["/tmp"] <= 32 and stopped["/dev/shm"] <= 16, done.stdout


def test_memory_limit_raises_memory_error():
    done = in_sandbox("x = bytearray(3 * 2**30)", limits=SandboxLimits(memory_mb=512, max_processes=32))
    assert done.returncode != 0
    assert "MemoryError" in done.stderr


def test_fork_bomb_stops_at_the_process_limit():
    code = (
        "import os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print('stopped', n)\n"
    )
    done = in_sandbox(code, limits=SandboxLimits(memory_mb=512, max_processes=24), timeout=120)
    assert "stopped" in done.stdout, done.stdout + done.stderr
    assert int(done.stdout.split()[-1]) < 24


def test_refuses_without_a_sandbox_unless_told(monkeypatch):
    monkeypatch.setattr("autograder.grading.sandbox._STATUS_CACHE", (False, "no bubblewrap in this test"))
    nb = nbformat.read(TINY, as_version=4)
    with pytest.raises(SandboxUnavailable, match="refusing"):
        run_notebook(nb, None, SandboxLimits())


@pytest.mark.slow
def test_runs_a_notebook_and_hands_back_every_cell(tmp_path):
    nb = nbformat.read(TINY, as_version=4)
    # the submission's other files are there to read; what the notebook writes stays in the sandbox
    (tmp_path / "helper.txt").write_text("from the working folder")
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print(open('helper.txt').read())\n_ = open('out.txt', 'w').write('x')\n"
            "_big = b'x' * (300 * 2**20)"
        )
    )
    executed, report = run_notebook(
        nb, tmp_path, SandboxLimits(cell_timeout=20, notebook_timeout=120, memory_mb=2048)
    )
    assert report.status == "ok" and report.sandboxed
    assert executed.cells[-1].outputs[0]["text"] == "from the working folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helper.txt"]
    assert 300 < report.peak_memory_mb < 2048  # the kernel's own peak, not the runner's
    assert report.cells_run == report.code_cells == sum(c.cell_type == "code" for c in nb.cells)
    outputs = {
        c.metadata.nbgrader["grade_id"]: c.outputs
        for c in executed.cells
        if c.cell_type == "code" and "nbgrader" in c.metadata
    }
    assert "Passed" in outputs["q1-answer-tests"][0]["text"]
    assert not any(o.get("output_type") == "error" for outs in outputs.values() for o in outs)


@pytest.mark.slow
def test_a_dying_kernel_keeps_earlier_cells_and_fails_the_rest():
    nb = nbformat.read(TINY, as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q2-double")
    answer.source = "import os\nos._exit(7)"
    executed, report = run_notebook(
        nb, None, SandboxLimits(cell_timeout=20, notebook_timeout=120, memory_mb=2048)
    )
    assert report.status == "kernel-died" and "exited with code 7" in report.reason
    by_id = {c.metadata.nbgrader["grade_id"]: c for c in executed.cells if c.cell_type == "code"}
    assert "Passed" in by_id["q1-answer-tests"].outputs[0]["text"]
    assert by_id["q2-double"].outputs[0]["ename"] == KERNEL_DIED
    for gid in ("q2-double-tests", "q3-vowels", "q3-vowels-tests"):
        assert by_id[gid].outputs[0]["ename"] == NOT_RUN
