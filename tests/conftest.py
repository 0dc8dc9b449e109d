"""Fixtures shared by the project's tests."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def build_book(*extra: str) -> subprocess.CompletedProcess:
    """Run the README's build exactly: `jupyter-book build . -W -n --keep-going`."""
    return subprocess.run(
        [str(BIN / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The course site, built once per test session (cached execution makes a rebuild cheap)."""
    result = build_book()
    log = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail("jupyter-book build failed:\n" + "\n".join(log.splitlines()[-80:]))
    html = REPO / "_build" / "html"
    assert (html / "index.html").is_file()
    return html


@pytest.fixture
def sandbox() -> None:
    """The grading sandbox works here: a test that needs it fails in CI without it, and skips elsewhere."""
    from support.capabilities import require_sandbox

    require_sandbox()
