"""Sentences the chapters glue into their prose, computed from the numbers of the table beside them.

A chapter shows a table (rounded for the reader) and says something about it in words: "the
label model does better than the majority vote", "the two are tied in all three runs". When the
words are typed by hand they go stale the day a library changes a number; when they are computed
from unrounded values they can say "above" where the reader sees two equal numbers. So every
function here compares values **at the precision the table shows them** (``decimals`` digits of
the value as stored: ``3`` for an F1 shown as ``0.714`` or for an accuracy shown as ``86.4%``),
and the chapters glue the result with ``myst_nb.glue``.

>>> compare(0.8641, 0.8638, decimals=3)
0
>>> comparative(0.864, 0.836, decimals=3)
'better than'
>>> tally_phrase(tally([0.944, 0.938, 0.934], [0.928, 0.933, 0.942], decimals=3), "runs")
'ahead in two and behind in one of the three runs'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "change_phrase",
    "comparative",
    "compare",
    "listing",
    "number_word",
    "points_apart",
    "ranges_overlap",
    "shown",
    "tally",
    "tally_phrase",
]

_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def shown(value, decimals: int) -> float:
    """``value`` as the reader sees it in a table that shows ``decimals`` digits."""
    return round(float(value), decimals)


def compare(a, b, decimals: int) -> int:
    """``1`` if ``a`` is shown above ``b``, ``-1`` if below, ``0`` if both are shown the same."""
    left, right = shown(a, decimals), shown(b, decimals)
    return (left > right) - (left < right)


def number_word(n: int) -> str:
    """``3`` -> ``"three"`` (up to ten; larger numbers as digits)."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def listing(names: Sequence[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    names = [str(name) for name in names]
    if not names:
        raise ValueError("nothing to list")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def comparative(
    a,
    b,
    decimals: int,
    better: str = "better than",
    worse: str = "worse than",
    same: str = "exactly as well as",
) -> str:
    """The words that compare ``a`` with ``b`` as shown: ``better``, ``worse`` or ``same``."""
    return {1: better, -1: worse, 0: same}[compare(a, b, decimals)]


def points_apart(a, b, decimals: int = 3) -> float:
    """The gap between ``a`` and ``b`` (fractions) in percentage points, from the values as shown.

    An accuracy shown as ``86.4%`` is stored with ``decimals=3``; the gap between two such values
    is then exact to one decimal of a percentage point, as a reader would compute it.
    """
    return round(abs(shown(a, decimals) - shown(b, decimals)) * 100, max(decimals - 2, 0))


def change_phrase(new, old, decimals: int = 3, than: str | None = None) -> str:
    """How ``new`` differs from ``old`` (fractions), in percentage points as the reader can check.

    With ``than``, the phrase names what ``new`` is compared with: ``"... higher than <than>"``,
    or ``"the same as <than>"`` when both are shown alike.

    >>> change_phrase(0.856, 0.864)
    '0.8 percentage points lower'
    >>> change_phrase(0.864, 0.864)
    'unchanged'
    >>> change_phrase(0.932, 0.864, than="the label model")
    '6.8 percentage points higher than the label model'
    """
    direction = compare(new, old, decimals)
    if direction == 0:
        return "unchanged" if than is None else f"the same as {than}"
    points = points_apart(new, old, decimals)
    unit = "percentage point" if points == 1 else "percentage points"
    phrase = f"{points:g} {unit} {'higher' if direction > 0 else 'lower'}"
    return phrase if than is None else f"{phrase} than {than}"


def ranges_overlap(a: Iterable, b: Iterable, decimals: int) -> bool:
    """Whether the range (min to max) of the values ``a`` meets the range of ``b``, as shown."""
    a = [shown(value, decimals) for value in a]
    b = [shown(value, decimals) for value in b]
    if not a or not b:
        raise ValueError("both ranges need at least one value")
    return min(a) <= max(b) and min(b) <= max(a)


def tally(model, other, decimals: int) -> dict[str, list]:
    """Where ``model`` is ahead of, behind or tied with ``other``, key by key (or position by position).

    ``model`` and ``other`` are mappings with the same keys (a pandas Series counts) or sequences of
    the same length. Returns ``{"ahead": [...], "behind": [...], "tied": [...]}`` with the keys (or
    positions) in their original order.
    """
    if isinstance(model, Mapping) or hasattr(model, "keys"):
        keys = list(model.keys())
        missing = [key for key in keys if key not in other]
        if missing:
            raise ValueError(f"no value to compare with for {missing}")
        pairs = [(key, model[key], other[key]) for key in keys]
    else:
        model, other = list(model), list(other)
        if len(model) != len(other):
            raise ValueError(f"{len(model)} values to compare with {len(other)}")
        pairs = [(k, a, b) for k, (a, b) in enumerate(zip(model, other, strict=True))]
    result: dict[str, list] = {"ahead": [], "behind": [], "tied": []}
    for key, a, b in pairs:
        result[{1: "ahead", -1: "behind", 0: "tied"}[compare(a, b, decimals)]].append(key)
    return result


def tally_phrase(counts: Mapping[str, Sequence], noun: str) -> str:
    """Words for a :func:`tally`: ``"ahead in two and behind in one of the three runs"``.

    ``noun`` is the plural of what was counted (``"runs"``, ``"sizes"``). A category that never
    happens is left out; a category that always happens says "all": ``"tied in all three runs"``.
    """
    n = sum(len(counts.get(key, ())) for key in ("ahead", "behind", "tied"))
    if n == 0:
        raise ValueError("nothing was counted")
    parts = [(key, len(counts.get(key, ()))) for key in ("ahead", "behind", "tied")]
    parts = [(key, count) for key, count in parts if count]
    if len(parts) == 1:
        key = parts[0][0]
        singular = noun[:-1] if noun.endswith("s") else noun
        if n == 1:
            return f"{key} in the only {singular}"
        return f"{key} in both {noun}" if n == 2 else f"{key} in all {number_word(n)} {noun}"
    words = [f"{key} in {number_word(count)}" for key, count in parts]
    return f"{listing(words)} of the {number_word(n)} {noun}"
