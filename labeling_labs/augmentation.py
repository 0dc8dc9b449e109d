"""What lab 2's notebook gives learners to work with: the names ``change_person`` may use, and data points
of their own to try a transformation function on.

The grader's checks (``autograder.checks.tf``) import the same two, so a learner's notebook and the checks
agree on them, and a learner who rebinds ``NAMES`` in the notebook changes nothing the checks compare with.
"""

from __future__ import annotations

from labeling_labs.data import make_point

__all__ = ["NAMES", "make_point"]

#: The names that ``change_person`` (Question 3) may put in place of a person's name.
NAMES = tuple(
    "Aiko Amara Ana Bilal Carlos Chen Dmitri Elena Emeka Farah Giulia Hana Ibrahim Ines Jonas Kofi Leila Lucas "
    "Mei Nadia Omar Priya Rafael Sara Tomas Yusuf Zoe".split()
)
