"""Partial credit: the one way a test cell with several parts earns some of its points.

nbgrader reads a test cell's last value as its partial credit. A cell whose question has
parts (two functions, a table and its summary, visible and hidden cases) builds a :class:`Credit`,
runs each part's checks inside :meth:`Credit.part`, and ends with :meth:`Credit.score`:

>>> credit = Credit(2)
>>> with credit.part("`make_keyword_sf`"):
...     pass  # checks that raise CheckFailed or NotAnswered
>>> with credit.part("`keyword_please`"):
...     pass
>>> credit.score()  # the cell's last line
- `make_keyword_sf` (1 of 1): passed.
- `keyword_please` (1 of 1): passed.
Score: 2 of 2 points.
2.0

A part earns its share of the points (``points * weight / total weight``) if every check in it
passes. A part may be entered again under the same name (once by the visible checks, once by the
hidden block): it keeps its weight and its first failure. Because the points are shared by weight,
a release whose visible checks all pass shows full points, and so does the graded notebook whose
hidden block adds parts of its own. A part measured on a scale rather than passed or failed (an
accuracy in bands) is :meth:`Credit.award`-ed its share directly.

Every line reads the same in the three assignments: ``- what (earned of share): passed.`` or the
reason it lost its points, then ``Score: earned of points points.``
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from autograder.checks.core import CheckFailed, NotAnswered, show

__all__ = ["Credit", "partial_credit"]


def partial_credit(earned: float, points: float, reasons: Iterable[str] = ()) -> float:
    """Print ``reasons`` and the score line; return the score, rounded and clipped to ``[0, points]``."""
    earned = max(0.0, min(float(points), round(float(earned), 2)))
    for reason in reasons:
        print(f"- {reason}")
    print(f"Score: {earned:g} of {points:g} points.")
    return earned


class Credit:
    """The points of one test cell, shared by weight among named parts (see the module's docstring)."""

    def __init__(self, points: float) -> None:
        self.points = float(points)
        self._weights: dict[str, float] = {}
        self._earned: dict[str, float] = {}
        self._notes: dict[str, str] = {}
        self._failures: dict[str, AssertionError] = {}

    @contextlib.contextmanager
    def part(self, what: str, weight: float = 1) -> Iterator[None]:
        """Run the checks of the part ``what``: a failing check costs this part its share, and only it."""
        from autograder.checks.remote import LearnerError

        self._weights.setdefault(what, float(weight))
        try:
            yield
        except AssertionError as failure:  # NotAnswered and CheckFailed both (and a bare `assert`)
            self._failures.setdefault(what, failure)
        except LearnerError as error:  # the learner's code raised while a check read one of its objects
            self._failures.setdefault(
                what, CheckFailed(f"Your code raised {error.type_name}: {show(error.message, 200)}")
            )

    def award(self, what: str, earned: float, weight: float, note: str = "") -> None:
        """Give the part ``what`` (of ``weight``) ``earned`` of its weight, measured rather than passed;
        ``note`` says what was measured (it stands where a passed part says "passed")."""
        self._weights[what] = float(weight)
        self._earned[what] = max(0.0, min(float(weight), float(earned)))
        if note:
            self._notes[what] = note

    def score(self) -> float | None:
        """The cell's score, printed with a line per part; ``None`` when there were no parts.

        When no part earned anything the cell fails instead: with the first "Not answered yet" when
        every part is still a stub, otherwise with the lines of every part.
        """
        if not self._weights:
            return None
        earned, lines = self._tally()
        if not any(earned.values()) and self._failures:
            if all(isinstance(self._failures.get(what), NotAnswered) for what in self._weights):
                raise next(iter(self._failures.values()))
            raise CheckFailed(
                "\n".join(f"- {line}" for line in lines) + f"\nScore: 0 of {self.points:g} points."
            )
        return partial_credit(sum(earned.values()), self.points, lines)

    def preview(self, heading: str) -> None:
        """Print ``heading``, a line per part as :meth:`score` prints them, and what the cell would score,
        without scoring it (it never raises, and the cell's last value stays ``None``): the same measure
        on data the learner may see, standing for a grade taken on data they may not."""
        earned, lines = self._tally()
        print(heading)
        for line in lines:
            print(f"- {line}")
        print(f"Would score: {_points(sum(earned.values()))} of {self.points:g} points.")

    def _tally(self) -> tuple[dict[str, float], list[str]]:
        """The points each part earned, and its line."""
        total = sum(self._weights.values())
        share = {what: self.points * weight / total for what, weight in self._weights.items()}
        earned = {what: self._part_earned(what) * share[what] for what in self._weights}
        return earned, [self._line(what, earned[what], share[what]) for what in self._weights]

    def _part_earned(self, what: str) -> float:
        """The share of its weight that the part ``what`` earned (0 to 1)."""
        if what in self._failures:
            return 0.0
        if what in self._earned:
            return self._earned[what] / self._weights[what] if self._weights[what] else 0.0
        return 1.0

    def _line(self, what: str, earned: float, share: float) -> str:
        head = f"{what} ({_points(earned)} of {_points(share)})"
        if what in self._failures:
            return f"{head}: {self._failures[what]}"
        return f"{head}: {self._notes.get(what, 'passed.')}"


def _points(value: float) -> str:
    return f"{round(value, 2):g}"
