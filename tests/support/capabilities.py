"""Capabilities some tests need (the grading sandbox, a browser): in CI a missing one is a failure.

A test that needs the sandbox calls :func:`require_sandbox` (or uses the ``sandbox`` fixture of
``tests/conftest.py``). Where ``CI`` is set (``CI=true``, as ``.ci/run`` runs), a missing sandbox
**fails** the test and names the cause, so that a broken sandbox can never turn the suite green
with skips; on a developer's machine it skips, saying why.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["in_ci", "require", "require_sandbox"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require(ok: bool, what: str, why: str) -> None:
    """Fail (in CI) or skip (elsewhere) unless ``ok``."""
    if ok:
        return
    message = f"{what} is not available here: {why}"
    if in_ci():
        pytest.fail(message + " (CI needs it: a missing capability fails the run)", pytrace=False)
    pytest.skip(message)


def require_sandbox() -> None:
    from autograder.grading.sandbox import sandbox_status

    ok, why = sandbox_status()
    require(ok, "the grading sandbox", why)
