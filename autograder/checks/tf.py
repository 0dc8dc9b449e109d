"""Checks for transformation functions and augmentation policies (assignment 2).

Logic only: the cases, seeds and tolerances live in the notebook's test cells.

A transformation function (TF) is graded on its contract:

- it returns a new data point (a ``pandas.Series`` like its input) or ``None``;
- it leaves the point it is given alone (:func:`check_keeps_input`). snorkel
  copies a point before a TF sees it, but a memoized preprocessor such as
  ``SpacyPreprocessor(memoize=True)`` hands every TF the *same cached object*
  for the same comment: a TF that edits it in place leaks its edit into the
  next TF that sees that comment;
- it keeps the label, changes the text when it applies, gives the same output
  for the same seed, and leaves readable text (:func:`text_problems`).

TFs draw random numbers from ``random`` or ``numpy.random``: every call here
seeds both first (:func:`seeded`), so grading is deterministic.
"""

from __future__ import annotations

import contextlib
import pickle
import random
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autograder.checks import (
    CheckFailed,
    call_safely,
    expect,
    quietly,
    require_answer,
    require_function,
    show,
    unwrap,
)
from labeling_labs.constants import HAM, SEED

__all__ = [
    "apply_policy",
    "Scorecard",
    "check_keeps_input",
    "check_policy",
    "check_synonym_result",
    "check_tf_contract",
    "make_point",
    "policy_problems",
    "prepare",
    "require_tf",
    "retrained_accuracy",
    "run_tf",
    "seeded",
    "share_applied",
    "substitute",
    "text_problems",
]

#: A transformed text shorter than this fraction of the original (or longer than ``MAX_GROWTH`` times it) is not
#: the same comment any more.
MIN_SHRINK = 0.3
MAX_GROWTH = 3.0


def require_tf(tf: Any, name: str) -> Any:
    """Check that ``tf`` is answered and a snorkel transformation function (a decorated function)."""
    from snorkel.map.core import BaseMapper

    require_function(tf, name)
    if not isinstance(tf, BaseMapper):
        raise CheckFailed(
            f"`{name}` is a {type(tf).__name__}, not a transformation function. "
            "Did you forget the `@transformation_function(...)` line above `def`?"
        )
    return tf


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


@contextlib.contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    """Seed ``random`` and ``numpy.random`` (the generators TFs and policies draw from)."""
    random.seed(seed)
    np.random.seed(seed)
    yield


@contextlib.contextmanager
def substitute(func: Any, name: str, replacement: Any) -> Iterator[None]:
    """Let ``func`` see ``replacement`` under the global ``name`` for the duration of a check, then restore it.

    A later question's check uses it so that a slip in an earlier answer (say,
    the synonym helper) does not cost points twice.
    """
    namespace = getattr(unwrap(func), "__globals__", None)
    if namespace is None:
        yield
        return
    missing = object()
    before = namespace.get(name, missing)
    namespace[name] = replacement
    try:
        yield
    finally:
        if before is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = before


def prepare(tf: Any, point: pd.Series, *, name: str) -> pd.Series:
    """The point as ``tf``'s own function receives it: a copy, passed through the TF's preprocessors.

    The preprocessors run without their cache: a TF that edited a cached point
    in place in an earlier call must not hide its edit behind that cache.
    """
    x = pickle.loads(pickle.dumps(point))
    preprocessors = list(getattr(tf, "_pre", []))
    memoized = [pre for pre in preprocessors if getattr(pre, "memoize", False)]
    try:
        for pre in memoized:
            pre.memoize = False
        for pre in preprocessors:
            x = call_safely(
                pre, x, name=f"the preprocessor of `{name}`", about=f"the comment {show(point['text'])}"
            )
    finally:
        for pre in memoized:
            pre.memoize = True
    return x


def _about(point: pd.Series) -> str:
    return f"the comment {show(point['text'], 60)}"


def run_tf(tf: Any, point: pd.Series, *, name: str, seed: int = SEED) -> pd.Series | None:
    """Call ``tf`` on ``point`` with seeded generators; check it returned a data point or ``None``."""
    with seeded(seed):
        result = call_safely(tf, point, name=name, about=_about(point))
    if result is not None and not isinstance(result, pd.Series):
        raise CheckFailed(
            f"`{name}` returned {show(result)} (a {type(result).__name__}) for {_about(point)}. "
            "A TF returns a data point like the one it was given (a pandas Series), or None when it cannot apply."
        )
    return result


def check_keeps_input(tf: Any, point: pd.Series, *, name: str, seed: int = SEED) -> None:
    """Call the function inside ``tf`` on a prepared copy of ``point``; fail if it edited that copy in place.

    Like :func:`autograder.checks.unchanged_after`, but a spaCy ``Doc`` field is
    compared by identity (a ``Doc`` has no equality), every other field by value.
    """
    x = _copy_point(prepare(tf, point, name=name))
    before = {
        key: (value if _is_doc(value) else pickle.loads(pickle.dumps(value))) for key, value in x.items()
    }
    with seeded(seed):
        call_safely(unwrap(tf), x, name=name, about=_about(point))
    changed = sorted(
        str(key)
        for key in set(before) | set(x.index)
        if key not in before or key not in x.index or not _same(before[key], x[key])
    )
    if changed:
        field = changed[0]
        detail = ""
        if field in before and field in x.index and isinstance(before[field], str):
            detail = f" (`{field}` went from {show(before[field], 40)} to {show(x[field], 40)})"
        raise CheckFailed(
            f"`{name}` changed the data point it was given{detail}. A TF must leave its input alone: "
            "the spaCy preprocessor hands every TF the same cached point for the same comment. "
            "Start with `x = x.copy()` and edit the copy."
        )


def _copy_point(x: pd.Series) -> pd.Series:
    """A copy of a prepared point that keeps what preprocessors added as attributes.

    snorkel's preprocessors store their output (``x.doc``) as an attribute of
    the Series, which ``Series.copy`` and pickling drop; the values are shared,
    not copied (a spaCy ``Doc`` is compared by identity).
    """
    y = x.copy()
    for key in set(vars(x)) - set(vars(y)):
        object.__setattr__(y, key, getattr(x, key))
    return y


def _is_doc(value: Any) -> bool:
    return type(value).__name__ == "Doc" and type(value).__module__.startswith("spacy")


def _same(a: Any, b: Any) -> bool:
    if _is_doc(a) or _is_doc(b):
        return a is b
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # both NaN
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


def text_problems(new: Any, old: str) -> list[str]:
    """What makes ``new`` unreadable as a transformed version of ``old`` (empty when it is fine)."""
    if not isinstance(new, str):
        return [f"its text is {show(new)}, not a string"]
    problems = []
    if not new.strip():
        problems.append("its text is empty")
    elif len(new) < MIN_SHRINK * len(old) or len(new) > MAX_GROWTH * len(old) + 20:
        problems.append(
            f"its text {show(new, 60)} is not the same comment any more (length {len(old)} -> {len(new)})"
        )
    words = [w for w in new.split() if "_" in w and w not in old.split()]
    if words:
        problems.append(
            f"its text has WordNet's joined words such as {show(words[0], 30)}; replace '_' with a space"
        )
    return problems


def check_tf_contract(
    tf: Any, point: pd.Series, *, name: str, applies: bool | None, seed: int = SEED
) -> pd.Series | None:
    """The TF contract on one point; returns the transformed point (or ``None``).

    ``applies=True``: the TF must transform this point; ``False``: it must return
    ``None``; ``None``: either is fine. When it transforms: the label is kept,
    the text changes and stays readable, the same seed gives the same text, and
    the input is left alone.
    """
    result = run_tf(tf, point, name=name, seed=seed)
    about = _about(point)
    if applies is False:
        if result is not None:
            text = result["text"] if "text" in result.index else result
            raise CheckFailed(
                f"`{name}` returned a point with text {show(text, 60)} for {about}, where it cannot "
                "apply. A TF returns None when it cannot apply."
            )
        return None
    if result is None:
        expect(
            applies is not True,
            f"`{name}` returned None for {about}, where it should apply. "
            "Does it look at the right part-of-speech tags or entities in `x.doc`?",
        )
        return None
    expect(
        "label" in result.index and "text" in result.index,
        f"`{name}` returned a point without `text` or `label` fields for {about}. Return a copy of the whole point.",
    )
    expect(
        _same(result["label"], point["label"]),
        f"`{name}` changed the label from {show(point['label'])} to {show(result['label'])} for {about}. "
        "A TF for data augmentation must preserve the label.",
    )
    expect(
        result["text"] != point["text"],
        f"`{name}` returned the text unchanged for {about}. When a TF cannot change a point it returns None.",
    )
    problems = text_problems(result["text"], point["text"])
    expect(not problems, f"`{name}` returned a point for {about}, but {problems[0] if problems else ''}.")
    again = run_tf(tf, point, name=name, seed=seed)
    expect(
        again is not None and again["text"] == result["text"],
        f"`{name}` gave {show(result['text'], 50)} and then {show(None if again is None else again['text'], 50)} "
        f"for {about} with the same seed. Draw random choices from `random` or `np.random` only.",
    )
    check_keeps_input(tf, point, name=name, seed=seed)
    return result


def check_synonym_result(
    result: pd.Series,
    point: pd.Series,
    doc: Any,
    *,
    name: str,
    pos_tag: str,
    lookup: Callable[[str], str | None],
) -> None:
    """``result`` must be ``point`` with one ``pos_tag`` token of ``doc`` replaced by ``lookup(token)``."""
    new = result["text"]
    old = point["text"]
    for token in doc:
        if token.pos_ != pos_tag:
            continue
        replacement = lookup(token.text)
        if replacement and replacement in new and _count_word(new, token.text) < _count_word(old, token.text):
            return
    raise CheckFailed(
        f"`{name}` turned {show(old, 50)} into {show(new, 50)}, which is not one {pos_tag} of the comment "
        f"replaced by its synonym. Pick among the tokens whose `pos_` is {pos_tag!r}."
    )


def _count_word(text: str, word: str) -> int:
    """How often ``word`` occurs in ``text`` as a whole word (not inside another word)."""
    return len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text))


def share_applied(tf: Any, frame: pd.DataFrame, *, name: str, seed: int = SEED) -> tuple[float, list[tuple]]:
    """The share of ``frame``'s rows that ``tf`` transforms, and the (point, result) pairs it transformed."""
    pairs = []
    for _, point in frame.iterrows():
        result = run_tf(tf, point, name=name, seed=seed)
        if result is not None:
            pairs.append((point, result))
    return (len(pairs) / len(frame) if len(frame) else 0.0), pairs


def policy_problems(
    policy: Any,
    name: str,
    *,
    kind: type,
    n_tfs: int,
    sequence_length: int,
    n_per_original: int,
    keep_original: bool,
    p: Sequence[float] | None = None,
) -> list[str]:
    """What differs between ``policy`` and the policy asked for (empty when it matches)."""
    require_answer(policy, name)
    if not isinstance(policy, kind):
        return [f"`{name}` is a {type(policy).__name__}, not a {kind.__name__}."]
    problems = []
    found = {
        "n_tfs": getattr(policy, "n", None),
        "sequence_length": getattr(policy, "sequence_length", None),
        "n_per_original": getattr(policy, "n_per_original", None),
        "keep_original": getattr(policy, "keep_original", None),
    }
    wanted = {
        "n_tfs": n_tfs,
        "sequence_length": sequence_length,
        "n_per_original": n_per_original,
        "keep_original": keep_original,
    }
    for key, value in wanted.items():
        if not _same(found[key], value):
            problems.append(f"`{name}` has {key}={show(found[key])}; the question asks for {key}={value!r}.")
    if p is not None:
        got = getattr(policy, "_p", None)
        try:
            same_p = got is not None and np.allclose(np.asarray(got, dtype=float), np.asarray(p, dtype=float))
        except (TypeError, ValueError):
            same_p = False
        if not same_p:
            problems.append(f"`{name}` has p={show(got)}; the question asks for p={list(p)!r}.")
    return problems


def check_policy(policy: Any, name: str, **wanted: Any) -> None:
    """Fail with the first difference between ``policy`` and the policy asked for."""
    problems = policy_problems(policy, name, **wanted)
    expect(not problems, problems[0] if problems else "")


def apply_policy(tfs: Sequence[Any], policy: Any, frame: pd.DataFrame, *, seed: int = SEED) -> pd.DataFrame:
    """Apply ``tfs`` with ``policy`` to ``frame`` as the notebook does (seeded, quiet, no progress bar)."""
    from snorkel.augmentation import PandasTFApplier

    try:
        with quietly(), seeded(seed):
            return PandasTFApplier(list(tfs), policy).apply(frame, progress_bar=False)
    except Exception as error:
        raise CheckFailed(
            f"Applying your TFs with your policy raised {type(error).__name__}: {show(str(error))}. "
            "Fix the TF that fails first (its own test cell names the input)."
        ) from None


class Scorecard:
    """Credit for a test cell with several parts: each part earns its weight unless its check fails.

    >>> card = Scorecard(points=3)
    >>> with card.part(1, "the verb TF"):
    ...     check_something()
    >>> card.result()  # the cell's last expression: its partial credit

    The score is ``points`` times the share of the weight earned, so the
    release (visible parts only) and the graded notebook (visible and hidden
    parts) both give full points to a right answer. When every part fails,
    :meth:`result` raises the first failure instead, so a stub or a wholly wrong
    answer fails the cell with its own message ("Not answered yet" for a stub).
    """

    def __init__(self, points: float) -> None:
        self.points = float(points)
        self.weight = 0.0
        self.earned = 0.0
        self.reasons: list[str] = []
        self.failures: list[AssertionError] = []

    @contextlib.contextmanager
    def part(self, weight: float, label: str) -> Iterator[None]:
        """Run one part's checks; a failing check (``AssertionError``) costs this part only."""
        self.weight += weight
        try:
            yield
        except AssertionError as failure:  # NotAnswered and CheckFailed both
            self.failures.append(failure)
            self.reasons.append(f"{label}: not yet. {failure}")
        else:
            self.earned += weight
            self.reasons.append(f"{label}: passed.")

    def result(self) -> float | None:
        """The cell's score (printed with the reasons), or raise the first failure when nothing passed."""
        from autograder.checks import partial_credit

        if not self.weight:
            return None
        if self.failures and self.earned == 0:
            raise self.failures[0]
        return partial_credit(self.points * self.earned / self.weight, self.points, self.reasons)


def retrained_accuracy(
    model: Any, train_frame: pd.DataFrame, test_frame: pd.DataFrame, *, name: str
) -> float:
    """Accuracy on ``test_frame`` of a fresh copy of ``model`` (same recipe, same seed) fit on ``train_frame``.

    The learner's fitted model is never touched: :func:`sklearn.base.clone` copies its recipe.
    """
    from sklearn.base import clone

    try:
        with quietly():
            fresh = clone(model).fit(train_frame["text"], train_frame["label"])
            return float(fresh.score(test_frame["text"], test_frame["label"]))
    except Exception as error:
        raise CheckFailed(
            f"Retraining `{name}`'s recipe raised {type(error).__name__}: {show(str(error))}. "
            "It should be a scikit-learn pipeline that takes the comments' text."
        ) from None
