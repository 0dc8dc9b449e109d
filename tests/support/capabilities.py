"""A test that needs a capability of the machine (the sandbox, cgroups, a browser) calls one of these
first. In CI (``CI=true``) a missing capability FAILS the test, naming the cause: a green CI run must
mean the hardened path was exercised. On a developer's machine it skips, saying why.

    from support.capabilities import require_sandbox

    def test_something():
        require_sandbox()
        ...

or, for a whole module, an autouse fixture that calls it::

    @pytest.fixture(autouse=True)
    def _needs_sandbox():
        require_sandbox()
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require", "require_browser", "require_cgroups", "require_sandbox"]


def in_ci() -> bool:
    """``CI`` set to a true value, as CI services and ``.ci/run`` set it."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(available: bool, what: str, why: str) -> None:
    """Fail (in CI) or skip (elsewhere) unless ``available``; ``what`` names the capability, ``why`` the cause."""
    if available:
        return
    message = f"{what} is unavailable here: {why}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a test that needs it fails rather than skips)", pytrace=False)
    pytest.skip(message)


def require_sandbox() -> None:
    """The grading sandbox (bubblewrap, seccomp) works here: see ``autograder.grading.sandbox.sandbox_status``."""
    from autograder.grading.sandbox import sandbox_status

    ok, why = sandbox_status()
    require(ok, "the grading sandbox", why)


def require_cgroups() -> None:
    """Each sandbox can get its own memory and CPU cgroup here: see ``autograder.grading.limits.cgroup_support``."""
    from autograder.grading.limits import cgroup_support

    ok, why = cgroup_support()
    require(ok, "per-sandbox cgroups", why)


def require_browser() -> str:
    """The path of a Chromium that Playwright can drive (Debian's package; never a downloaded build)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            try:
                import playwright  # noqa: F401
            except ImportError:
                require(False, "a browser for the tests", "the playwright package is not installed")
            return path
    require(
        False, "a browser for the tests", "no Chromium on PATH (`make system-deps` installs Debian's package)"
    )
    raise AssertionError("unreachable")
