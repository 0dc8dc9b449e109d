"""One way to seed the random generators that transformation functions and policies draw from.

TFs pick which token to replace, or which name to insert, with Python's :mod:`random` or NumPy's
global generator. :func:`seeded` seeds both for a block of code and puts both back as they were
afterwards, so that the block gives the same result every time and the code after it draws the
same random numbers as if the block had never run. The chapters' previews and the grader's checks
both use it: a check never leaves a learner's generators in a state the learner did not set.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np

from labeling_labs.constants import SEED

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    """Seed :mod:`random` and NumPy's global generator with ``seed``; restore both on exit."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
