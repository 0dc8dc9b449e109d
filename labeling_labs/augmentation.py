"""What lab 2's notebook gives learners to work with: the names ``change_person`` may use, and data points
of their own to try a transformation function on.

The grader's checks (``autograder.checks.tf``) import the same two, so a learner's notebook and the checks
agree on them, and a learner who rebinds ``NAMES`` in the notebook changes nothing the checks compare with.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from labeling_labs.constants import HAM

__all__ = ["NAMES", "make_point"]

#: The names that ``change_person`` (Question 3) may put in place of a person's name.
NAMES = tuple(
    "Aiko Amara Ana Bilal Carlos Chen Dmitri Elena Emeka Farah Giulia Hana Ibrahim Ines Jonas Kofi Leila Lucas "
    "Mei Nadia Omar Priya Rafael Sara Tomas Yusuf Zoe".split()
)


def make_point(text: str, label: int = HAM, **fields: Any) -> pd.Series:
    """A data point like a row of the course's splits (``author``, ``date``, ``text``, ``label``, ``video``)."""
    point = {
        "author": "A. Commenter",
        "date": "2015-05-25T12:00:00",
        "text": text,
        "label": label,
        "video": 5,
    }
    point.update(fields)
    return pd.Series(point, name=0)
