"""Warm kernels (:mod:`autograder.grading.warm`): forked from a server whose imports are done, then moved
into the notebook's own sandbox. Real bubblewrap, real kernels, real namespaces: the kernel a learner
gets must be the sandbox's in every respect a cold one is, and fresh for each notebook.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from fixtures.tiny.course import SOURCE as TINY
from support.capabilities import require, require_cgroups

from autograder.grading import forks, warm
from autograder.grading.config import SandboxLimits
from autograder.grading.execute import run_notebook
from autograder.grading.sandbox import UID_RANGE, sandbox_env
from autograder.grading.warm import NAMESPACES, kernel_server_command

REPO = Path(__file__).resolve().parent.parent
LIMITS = SandboxLimits(cell_timeout=30, notebook_timeout=120, memory_mb=2048, max_processes=64)

pytestmark = pytest.mark.usefixtures("sandbox")


@pytest.fixture(autouse=True)
def _root():
    require(
        os.geteuid() == 0, "warm kernels", "they are forked by a grader running as root (CI runs as root)"
    )


def _notebook(*sources: str, setup: str = "import numpy as np") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup, metadata={"nbgrader": {"locked": True}})]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


def _texts(executed) -> list[str]:
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in executed.cells[1:]]


_FACTS = r"""
import json, os, resource, socket, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
try:
    socket.socket(socket.AF_UNIX); unix = "open"
except PermissionError:
    unix = "refused"
try:
    open(SOLUTIONS).read(1); solutions = "read"
except OSError as error:
    solutions = type(error).__name__
print(json.dumps({
    "uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(),
    "caps": {k: int(status[k], 16) for k in status if k.startswith("Cap")},
    "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
    "ns": {n: os.readlink(f"/proc/self/ns/{n}") for n in NAMESPACES},
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "fds": sorted(os.listdir("/proc/self/fd")), "cwd": os.getcwd(), "root": sorted(os.listdir("/")),
    "unix": unix, "solutions": solutions, "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
    "address_space": resource.getrlimit(resource.RLIMIT_AS), "parent": os.getppid(),
    "main": sys.modules["__main__"].__name__, "argv0": os.path.basename(sys.argv[0]),
    "path": [p for p in sys.path if p in ("", os.getcwd())],
}))
"""


def _facts(warm: bool) -> tuple[dict, object]:
    solutions = next((REPO / "solutions").glob("*/*.ipynb"))
    source = f"NAMESPACES = {list(NAMESPACES)!r}\nSOLUTIONS = {str(solutions)!r}\n" + _FACTS
    executed, report = run_notebook(_notebook(source), None, dataclasses.replace(LIMITS, warm_kernels=warm))
    assert report.status == "ok", report.reason
    assert report.warm_kernel is warm, report.warm_kernel_note
    return json.loads(_texts(executed)[0]), report


def test_a_warm_kernel_is_the_sandboxs_in_every_respect_a_cold_one_is():
    warm, _ = _facts(True)
    cold, _ = _facts(False)
    # the sandbox's identity: a fresh unprivileged uid, no groups, no capability of any kind, the filter on
    assert UID_RANGE[0] <= warm["uid"][0] < UID_RANGE[1] and len(set(warm["uid"] + warm["gid"])) == 1
    assert warm["groups"] == [] and set(warm["caps"].values()) == {0}
    assert warm["no_new_privs"] == "1" and warm["seccomp"] == "2" and warm["unix"] == "refused"
    assert warm["solutions"] in ("FileNotFoundError", "PermissionError")
    # the sandbox's namespaces, none of the grader's: it sees only the sandbox's few processes
    ours = {n: os.readlink(f"/proc/self/ns/{n}") for n in NAMESPACES}
    assert all(warm["ns"][n] != ours[n] for n in NAMESPACES), (warm["ns"], ours)
    assert max(warm["processes"]) < 10 and warm["parent"] == 0  # its mover is outside the sandbox
    # and otherwise what a kernel the runner started sees
    for key in ("groups", "caps", "no_new_privs", "seccomp", "fds", "cwd", "root", "unix", "solutions",
                "nproc", "address_space", "argv0", "path"):  # fmt: skip
        assert warm[key] == cold[key], key
    assert warm["main"] == cold["main"] == "__main__"


def test_each_notebook_gets_a_fresh_kernel_nothing_of_the_last_one():
    first = _notebook(
        "import random\nnp._left_behind = 1\nopen('/tmp/left-behind', 'w').write('x')\nprint(random.random())"
    )
    second = _notebook(
        "import random\nprint(hasattr(np, '_left_behind'), os.path.exists('/tmp/left-behind'), random.random())",
        setup="import os\nimport numpy as np",
    )
    executed, report = run_notebook(first, None, LIMITS)
    assert report.warm_kernel and report.status == "ok", report.reason
    (first_random,) = _texts(executed)
    executed, report = run_notebook(second, None, LIMITS)
    assert report.warm_kernel and report.status == "ok", report.reason
    left, on_disk, second_random = _texts(executed)[0].split()
    assert (left, on_disk) == ("False", "False")
    assert first_random.strip() != second_random  # random streams seeded anew, not the server's copy


def test_no_descriptor_of_the_server_reaches_the_kernel_above_the_sandboxs_open_file_limit(monkeypatch):
    """A server holding its control socket at descriptor 900 (above this sandbox's limit of 256): the
    kernel must close it too, though a process cannot open a descriptor that high under its own limit."""
    held = 900
    command = kernel_server_command()
    command[-1] = f"import os; os.dup2(0, {held}); " + command[-1]
    monkeypatch.setattr(warm, "kernel_server_command", lambda: command)
    limits = dataclasses.replace(LIMITS, max_open_files=256)
    executed, report = run_notebook(
        _notebook("import os, resource\nprint(sorted(map(int, os.listdir('/proc/self/fd'))), "
                  "resource.getrlimit(resource.RLIMIT_NOFILE)[0])", setup="import os"),
        None, limits,
    )  # fmt: skip
    assert report.warm_kernel and report.status == "ok", (report.warm_kernel_note, report.reason)
    fds, limit = _texts(executed)[0].rsplit(" ", 1)
    assert int(limit) == 256 and held not in json.loads(fds), fds


def test_the_memory_limit_holds_for_a_warm_kernel_and_its_children():
    require_cgroups()
    hog = (
        "import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
        "        block = b'\\1' * 2**30\n        time.sleep(4)\n        os._exit(0)\n    kids.append(pid)\n"
        "print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids))"
    )
    executed, report = run_notebook(_notebook(hog), None, LIMITS)
    assert report.warm_kernel, report.warm_kernel_note
    assert report.status == "ok", report.reason
    codes = json.loads(_texts(executed)[0])
    assert codes.count(-9) >= 2, codes  # the cgroup's OOM killer: the kernel's children are in the group


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("import os\nos._exit(7)", "exited with code 7"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "was killed (SIGKILL)"),
    ],
)
def test_how_a_warm_kernel_ended_is_read_from_outside(source, reason):
    executed, report = run_notebook(_notebook("print('before')", source, "print('after')"), None, LIMITS)
    assert report.warm_kernel
    assert report.status == "kernel-died" and reason in report.reason, report.reason
    assert _texts(executed)[0] == "before\n"


def test_without_a_server_the_runner_starts_its_own_kernel_and_says_why(monkeypatch):
    setup = "import numpy as np"
    monkeypatch.setitem(warm._REFUSED, setup, "the kernel server could not start (a test)")
    executed, report = run_notebook(_notebook("print('still graded')", setup=setup), None, LIMITS)
    assert not report.warm_kernel and report.warm_kernel_note == "the kernel server could not start (a test)"
    assert report.status == "ok", report.reason
    assert _texts(executed) == ["still graded\n"]


def test_a_server_whose_imports_started_a_thread_refuses_to_fork():
    code = (
        "import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "from autograder.grading.warm import _fork_safety\nprint(_fork_safety())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "started threads (2)" in done.stdout, done.stderr


def test_the_tiny_assignment_grades_the_same_warm_and_cold():
    nb = nbformat.read(TINY, as_version=4)
    outputs = {}
    for is_warm in (True, False):
        executed, report = run_notebook(nb, None, dataclasses.replace(LIMITS, warm_kernels=is_warm))
        assert report.status == "ok" and report.warm_kernel is is_warm
        outputs[is_warm] = [
            [o.get("text", o.get("ename")) for o in c.outputs]
            for c in executed.cells
            if c.cell_type == "code"
        ]
    assert outputs[True] == outputs[False]


def test_the_server_never_starts_a_kernel_outside_a_sandbox():
    """A target that shares the grader's namespaces (here: this very process) is refused by the mover."""
    reports, theirs = os.pipe()
    request = {"target": os.getpid(), "uid": UID_RANGE[0], "limits": {}, "cgroup": [], "env": {},
               "argv": [], "log": "/dev/null", "cwd": "/"}  # fmt: skip
    try:
        mover = forks.server_request(kernel_server_command(), sandbox_env(0), "", request, [theirs])
    finally:
        os.close(theirs)
    assert mover > 0
    with os.fdopen(reports, "rb") as lines:
        line = lines.readline().decode()
    assert line.startswith("error ") and "is not a sandbox" in line, line
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the mover ends without forking anything
        try:
            os.kill(mover, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the mover {mover} is still running")
