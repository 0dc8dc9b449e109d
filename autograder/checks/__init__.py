"""What learners' test cells import: the checks, and nothing of the instructor's machinery.

- :mod:`autograder.checks.core` -- the contract every check keeps: :class:`CheckFailed`,
  :class:`NotAnswered`, :func:`expect`, :func:`call_safely`, :func:`show`, :func:`same`, messages;
- :mod:`autograder.checks.credit` -- partial credit: :class:`Credit`, the one model of a test cell's
  points shared among its parts;
- :mod:`autograder.checks.lf`, :mod:`~autograder.checks.tf`, :mod:`~autograder.checks.sf` --
  the checks of labs 1, 2 and 3.

This package imports only :mod:`labeling_labs` and the libraries the labs use; never
:mod:`autograder.grading` nor :mod:`autograder.authoring` (a test enforces it), so that
what the sandbox binds into a learner's kernel is exactly this folder and the course package.
"""

from autograder.checks.core import (
    CheckFailed,
    NotAnswered,
    call_each,
    call_each_of,
    call_safely,
    expect,
    held_out_split,
    is_stub,
    passed,
    quietly,
    require_answer,
    require_function,
    same,
    show,
    unchanged_after,
    unwrap,
)
from autograder.checks.credit import Credit, partial_credit

__all__ = [
    "CheckFailed",
    "Credit",
    "NotAnswered",
    "call_each",
    "call_each_of",
    "call_safely",
    "expect",
    "held_out_split",
    "is_stub",
    "partial_credit",
    "passed",
    "quietly",
    "require_answer",
    "require_function",
    "same",
    "show",
    "unchanged_after",
    "unwrap",
]
