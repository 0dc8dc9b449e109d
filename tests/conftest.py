"""Fixtures shared by the project's tests."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The fixtures that build or serve the course site in the repository's own `_build`: one test process at a time.
SITE_FIXTURES = {"built_site", "site_url"}


def _xdist_group(item: pytest.Item) -> str | None:
    """Which tests one pytest-xdist worker must run together (`make test` runs ``pytest -n N --dist loadgroup``).

    Tests that build or serve the site share the repository's ``_build``: one group, so one worker builds it.
    Tests that share a module-scoped fixture (a term graded once, a fixture course) stay on one worker, so that
    the fixture is made once; a module that caches such a fixture per assignment (``SPLIT_BY_SLUG = True``)
    is split by its ``slug`` parameter. Every other test is scheduled on its own.
    """
    if SITE_FIXTURES & set(item.fixturenames):
        return "site"
    scopes = {
        fixture.scope for fixtures in item._fixtureinfo.name2fixturedefs.values() for fixture in fixtures
    }
    if "module" not in scopes:
        return None
    group = item.module.__name__
    slug = getattr(item, "callspec", None) and item.callspec.params.get("slug")
    if slug and getattr(item.module, "SPLIT_BY_SLUG", False):
        group += f"[{slug}]"
    return group


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist (see :func:`_xdist_group`), and run the modules that hold slow tests first, so
    that the workers do not end on one long test while the other waits. The sort is stable and moves whole modules,
    so a module's tests stay together and its module-scoped fixtures are made once."""
    for item in items:
        if not item.get_closest_marker("xdist_group") and (group := _xdist_group(item)):
            item.add_marker(pytest.mark.xdist_group(group))
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
