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


@pytest.fixture(scope="session")
def site_url(built_site):
    """The built site served on a loopback port (for the browser tests)."""
    from support.browser import serve_folder

    with serve_folder(built_site) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright: fails in CI, skips elsewhere, when there is none."""
    from support.browser import launch_chromium

    with launch_chromium() as instance:
        yield instance
