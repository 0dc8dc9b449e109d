"""A test that needs the sandbox fails in CI when the sandbox is missing, naming the cause; elsewhere it skips."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def path_without_bubblewrap(tmp_path):
    """A PATH on which everything the sandbox needs is found except bubblewrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("prlimit", "setpriv"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run_sandbox_test(path: str, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = path
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_sandbox.py::test_runs_as_an_unprivileged_user_without_capabilities",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_sandbox_fails_in_ci_and_names_the_cause(path_without_bubblewrap):
    done = run_sandbox_test(path_without_bubblewrap, "true")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "1 error" in done.stdout or "1 failed" in done.stdout  # a fixture that fails is an error
    assert "bubblewrap (`bwrap`) is not installed" in done.stdout


def test_a_missing_sandbox_skips_on_a_developers_machine_saying_why(path_without_bubblewrap):
    done = run_sandbox_test(path_without_bubblewrap, None)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 skipped" in done.stdout
    assert "bubblewrap (`bwrap`) is not installed" in done.stdout
