"""Checkers forked from a warm server: one per notebook, nothing carried from one to the next.

Real processes: the fork server (``python -m autograder.grading.checker --fork-server``) and the
checkers it forks, spoken to as the grader does (:class:`autograder.grading.execute._Process`).
"""

import json
import os
import select
import time

import pytest

from autograder.grading import forks
from autograder.grading.checker import setup_imports
from autograder.grading.execute import _python, _setup_sources, _start_checker
from autograder.grading.protocol import CheckerJob
from autograder.grading.sandbox import import_path

SETUP = "import numpy as np\nfrom labeling_labs.constants import SPAM"


@pytest.fixture
def no_servers():
    forks.stop_servers()
    yield
    forks.stop_servers()


_ENV: dict = {}


def _env() -> dict:
    """The checkers' environment, the same for every checker of a test (a server serves one environment)."""
    if not _ENV:
        _ENV.update({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
        _ENV["PYTHONPATH"] = import_path()
    return _ENV


def _checker(setup: str = SETUP):
    from autograder.grading.execute import _Process

    cmd = _python("autograder.grading.checker")
    env = _env()
    process = _Process(cmd, env=env, cwd=None, name="checker", proc=forks.checker_process(cmd, env, setup))
    process.send(CheckerJob(setup=setup).to_dict())
    return process


def _events(process, until: str, timeout: float = 60.0) -> list[dict]:
    """The checker's events up to one of kind ``until`` (or a verdict)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([process], [], [], 0.5)[0]:
            seen += process.read_available()
            if any(e.get("event") in (until, "verdict") for e in seen) or process.closed:
                return seen
    raise AssertionError(f"no {until!r} event within {timeout} s: {seen}")


def _run(process, source: str) -> dict:
    """A test cell's verdict; the checker's requests to the kernel (here only ``release``) answered."""
    process.send({"op": "run", "index": 1, "grade_id": "t", "source": source})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for event in _events(process, "rpc"):
            if event.get("event") == "verdict":
                return event
            assert event["request"] == {"op": "release"}, event
            process.send({"op": "reply", "text": json.dumps({"ok": True, "value": None})})
    raise AssertionError("no verdict")


def _printed(verdict: dict) -> str:
    return "".join(o.get("text", "") for o in verdict["outputs"] if o["output_type"] == "stream")


def test_each_notebook_gets_a_fresh_checker_from_one_warm_server(no_servers):
    first = _checker()
    assert isinstance(first.proc, forks.ForkedProcess)
    assert [e["event"] for e in _events(first, "ready")] == ["ready"]
    # the set-up imports ran, and a test cell's verdict is the one a plain checker gives
    verdict = _run(first, "print(SPAM, np.int64(2) + 1)\n0.5")
    assert _printed(verdict) == "1 3\n"
    assert verdict["outputs"][-1]["data"]["text/plain"] == "0.5"
    # a test cell that changes the checker's modules changes nothing for the next notebook
    _run(first, "import autograder.checks.core as core\ncore.LEFT_BEHIND = 'by notebook 1'")
    server = next(iter(forks._SERVERS.values()))
    second = _checker()
    assert next(iter(forks._SERVERS.values())) is server  # the same server, warmed up once
    assert second.proc.pid != first.proc.pid
    _events(second, "ready")
    verdict = _run(second, "import autograder.checks.core as core\nprint(hasattr(core, 'LEFT_BEHIND'))")
    assert _printed(verdict) == "False\n"
    for process in (first, second):
        process.kill()
        assert process.proc.wait(timeout=10) == 0 and process.proc.poll() is not None


def test_a_server_that_died_is_replaced(no_servers):
    _checker().kill()
    (server,) = forks._SERVERS.values()
    server.proc.kill()
    server.proc.wait()
    fresh = _checker()
    assert isinstance(fresh.proc, forks.ForkedProcess)
    assert next(iter(forks._SERVERS.values())) is not server
    assert [e["event"] for e in _events(fresh, "ready")] == ["ready"]
    fresh.kill()


def test_a_set_up_that_cannot_be_imported_still_gives_a_checker_that_says_why(no_servers):
    """The server cannot warm up, so the checker starts as a plain process and reports the error itself."""
    broken = "import no_such_module_anywhere"
    process = _checker(broken)
    assert not isinstance(process.proc, forks.ForkedProcess)
    (event,) = _events(process, "checker-error")
    assert "no_such_module_anywhere" in event["reason"]
    process.kill()
    process.proc.wait()


def test_the_grader_starts_its_checkers_from_the_server(no_servers):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np", metadata={"nbgrader": {"locked": True}})]
    checker = _start_checker(setup_imports(_setup_sources(nb)), "", "")
    assert isinstance(checker.proc, forks.ForkedProcess)
    assert [e["event"] for e in _events(checker, "ready")] == ["ready"]
    checker.kill()
    checker.proc.wait(timeout=10)


def test_a_checker_works_in_the_graders_folder_of_the_moment(no_servers, tmp_path, monkeypatch):
    """nbgrader grades each submission in its own folder, which is removed afterwards: a checker forked later
    must not inherit a folder that is gone (torch and snorkel's trainer read the working folder)."""
    first, second = tmp_path / "first-submission", tmp_path / "second-submission"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    _checker().kill()
    monkeypatch.chdir(second)
    first.rmdir()
    checker = _checker()
    assert len(forks._SERVERS) == 1  # the server that started in the folder now gone
    _events(checker, "ready")
    assert _printed(_run(checker, "import os\nprint(os.getcwd())")) == f"{second}\n"
    checker.kill()
