"""Fixtures shared by the project's tests."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The tests that build or serve the course site in the repository's own `_build`: one worker runs them all, one
# after another (collection fails on a test that uses the site's fixtures and is not named here).
SITE_MODULES = ("test_book.py", "test_links.py", "test_site_browser.py", "test_site_layout.py")
SITE_TESTS = ("test_assignments.py::test_built_site_holds_no_secret",)
SITE_FIXTURES = {"built_site", "site_url"}
#: Tests that are a long job each and share nothing with their module's other tests: scheduled on their own.
ON_THEIR_OWN = ("test_assignments.py::test_nbgrader_grades_perfect_blank_and_wrong_submissions[",)


def worker_group(nodeid: str) -> str:
    """What one pytest-xdist worker runs together, in order (`make test` runs ``pytest -n N``).

    A module's tests stay together (as ``--dist loadfile``): many share a module-scoped fixture, such as a term
    that its tests walk through step by step. The modules that build or serve the site form one group, since they
    share ``_build``; the tests named in :data:`ON_THEIR_OWN` are scheduled one by one.
    """
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    if module in SITE_MODULES or f"{module}::{name}" in SITE_TESTS:
        return "site"
    if any(nodeid.startswith(f"tests/{prefix}") for prefix in ON_THEIR_OWN):
        return nodeid
    return path


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist the suite runs in one process
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's file-level scheduling, with the groups of :func:`worker_group`."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that uses the built site outside the site's group (see :func:`worker_group`), and run the
    modules that hold slow tests first, so that the workers do not end on one long test while the other waits (a
    stable sort of whole modules: a module's tests stay together, its module-scoped fixtures made once)."""
    for item in items:
        if SITE_FIXTURES & set(item.fixturenames) and worker_group(item.nodeid) != "site":
            raise pytest.UsageError(
                f"{item.nodeid} uses the built site: add it to SITE_MODULES or SITE_TESTS"
            )
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)


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
