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

Where the checks run. When a notebook is graded, its test cells run in the checker, outside the
learner's kernel (:mod:`autograder.checks.remote`). Seeding the learner's generators, calling a TF
twice with the same seed, feeding a prepared point to the function inside a TF, applying a policy,
resetting a preprocessor's cache and refitting the learner's pipeline only mean something next to
the learner's objects, so the helpers that do them (:func:`tf_trials`, :func:`reset_caches`, ...)
are :func:`~autograder.checks.remote.kernel_side`: they run in the kernel, in one request for a whole
list of points, and bring back plain data (the TF's outputs, what it changed, the error it raised).
The verdicts are made here, from that data; the expectations of hidden tests (the spaCy parse of a
held-out comment, a WordNet synonym) are computed here too (:func:`parse`), never by the learner's
objects. In the learner's own kernel the same helpers run directly: the same checks, the same verdicts.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autograder.checks import (
    CheckFailed,
    expect,
    quietly,
    require_answer,
    require_function,
    same,
    show,
    unwrap,
)
from autograder.checks.core import _is_doc
from autograder.checks.remote import LearnerError, kernel_side, type_name
from labeling_labs.augmentation import NAMES
from labeling_labs.constants import SEED
from labeling_labs.data import make_point
from labeling_labs.seeding import seeded

__all__ = [
    "NAMES",
    "apply_policy",
    "assignment_source",
    "call_many",
    "check_keeps_input",
    "check_policy",
    "check_synonym_result",
    "check_tf_contract",
    "check_tf_contracts",
    "editing_input",
    "held_out_label",
    "make_point",
    "model_accuracy",
    "parse",
    "policy_problems",
    "prepare",
    "require_tf",
    "reset_caches",
    "retrained_accuracy",
    "run_tf",
    "seeded",
    "share_applied",
    "source_of",
    "substitute",
    "text_problems",
    "tf_trials",
    "typed_in",
]

#: A transformed text shorter than this fraction of the original (or longer than ``MAX_GROWTH`` times it) is not
#: the same comment any more.
MIN_SHRINK = 0.3
MAX_GROWTH = 3.0
#: ...nor is one that keeps fewer than this share of the original's words (for a comment of ``MIN_WORDS`` or more):
#: a TF edits a word or a few, it does not rewrite or glue the whole comment ("aXX XXb" from "a b").
MIN_WORDS_KEPT = 1 / 3
MIN_WORDS = 3


def require_tf(tf: Any, name: str) -> Any:
    """Check that ``tf`` is answered and a snorkel transformation function (a decorated function)."""
    from snorkel.map.core import BaseMapper

    require_function(tf, name)
    if not isinstance(tf, BaseMapper):
        raise CheckFailed(
            f"`{name}` is a {type_name(tf)}, not a transformation function. "
            "Did you forget the `@transformation_function(...)` line above `def`?"
        )
    return tf


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


# --------------------------------------------------------------------------- the checker's own expectations


@functools.lru_cache(maxsize=1)
def _nlp():
    from labeling_labs.nlp import load_spacy

    return load_spacy()


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Any:
    """The course's spaCy parse of ``text`` (the model ``spacy_pre`` loads), made where the check runs.

    Hidden tests compute what a TF may do from this parse, never from the notebook's preprocessor,
    whose cache and answers the learner's code controls.
    """
    with quietly():
        return _nlp()(text)


# --------------------------------------------------------------------------- in the learner's kernel


def _text(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:
        return ""


def _attempt(func: Callable, *args: Any, seed: int | None = None) -> dict:
    """``{"value": func(*args)}``, or ``{"error": [type name, message]}`` when the learner's code raised."""
    try:
        with quietly():
            if seed is None:
                return {"value": func(*args)}
            with seeded(seed):
                return {"value": func(*args)}
    except Exception as error:
        return {"error": [type(error).__name__, _text(error)]}


def _prepared(tf: Any, point: pd.Series) -> tuple[pd.Series | None, list | None]:
    """``(x, None)``: the point as the function inside ``tf`` receives it; or ``(None, [kind, message])``."""
    x = pickle.loads(pickle.dumps(point))
    preprocessors = list(getattr(tf, "_pre", []))
    memoized = [pre for pre in preprocessors if getattr(pre, "memoize", False)]
    try:
        for pre in memoized:
            pre.memoize = False
        for pre in preprocessors:
            outcome = _attempt(pre, x)
            if "error" in outcome:
                return None, outcome["error"]
            x = outcome["value"]
    finally:
        for pre in memoized:
            pre.memoize = True
    return x, None


def _keeps_input_report(tf: Any, point: pd.Series, seed: int) -> dict:
    """What the function inside ``tf`` changed in a prepared copy of ``point``: ``{}`` when nothing,
    ``{"changed": [field, detail]}``, or ``{"error": [who, kind, message]}`` (who: "pre" or "tf")."""
    x, error = _prepared(tf, point)
    if error is not None:
        return {"error": ["pre", *error]}
    x = _copy_point(x)
    before = {
        key: (value if _is_doc(value) else pickle.loads(pickle.dumps(value))) for key, value in x.items()
    }
    outcome = _attempt(unwrap(tf), x, seed=seed)
    if "error" in outcome:
        return {"error": ["tf", *outcome["error"]]}
    changed = sorted(
        str(key)
        for key in set(before) | set(x.index)
        if key not in before or key not in x.index or not same(before[key], x[key])
    )
    if not changed:
        return {}
    field = changed[0]
    detail = ""
    if field in before and field in x.index and isinstance(before[field], str):
        detail = f" (`{field}` went from {show(before[field], 40)} to {show(x[field], 40)})"
    return {"changed": [field, detail]}


def _plain_result(value: Any) -> Any:
    """A TF's output as the checks read it: a data point without what preprocessors hung on it (``x.doc``)."""
    return value.copy() if isinstance(value, pd.Series) else value


def _trial(tf: Any, point: pd.Series, seed: int, contract: bool, checked: set) -> dict:
    first = _attempt(tf, point, seed=seed)
    trial = {"first": {**first, "value": _plain_result(first["value"])} if "value" in first else first}
    if contract and isinstance(first.get("value"), pd.Series):
        again = _attempt(tf, point, seed=seed)
        trial["again"] = {**again, "value": _plain_result(again["value"])} if "value" in again else again
        # the input is checked once per distinct point: an edit in place does not wait for a lucky seed
        key = _point_key(point)
        trial["keeps"] = {} if key in checked else _keeps_input_report(tf, point, seed)
        checked.add(key)
    return trial


def _point_key(point: pd.Series) -> tuple:
    return (repr(point.name), tuple(repr(k) for k in point.index), tuple(repr(v) for v in point.tolist()))


def _table_function(table: dict, fallback: Any) -> Callable:
    """A stand-in for a learner's helper: answers from ``table`` (``(args...) -> value``), else asks ``fallback``."""

    def lookup(*args: Any, **kwargs: Any) -> Any:
        key = tuple(args) + tuple(kwargs.values())
        if key in table:
            return table[key]
        return fallback(*args, **kwargs) if callable(fallback) else None

    return lookup


@kernel_side
def tf_trials(
    tf: Any,
    points: Sequence[pd.Series],
    seed: int | Sequence[int] = SEED,
    contract: bool = True,
    tables: dict | None = None,
) -> list[dict]:
    """Run ``tf`` on each point with seeded generators, in the kernel where the TF and its random state live.

    Each trial is ``{"first": outcome}`` and, when ``contract`` and the TF returned a data point, ``"again"``
    (a second call with the same seed) and ``"keeps"`` (what the function inside the TF changed in the
    prepared point it was given). An outcome is ``{"value": ...}`` or ``{"error": [type name, message]}``.
    ``seed``: one for every point, or one per point (the same comment under several seeds shows whether
    a choice "at random" varies).
    ``tables`` (``{global name: {args: value}}``) stand in for helpers the TF calls (the synonym helper),
    so that a slip in an earlier answer does not cost points twice.
    """
    with contextlib.ExitStack() as stack:
        namespace = getattr(unwrap(tf), "__globals__", None) or {}
        for name, table in (tables or {}).items():
            stack.enter_context(substitute(tf, name, _table_function(table, namespace.get(name))))
        seeds = list(seed) if isinstance(seed, list | tuple) else [seed] * len(points)
        checked: set = set()
        return [_trial(tf, point, one, contract, checked) for point, one in zip(points, seeds, strict=True)]


@kernel_side
def reset_caches(*mappers: Any) -> None:
    """Empty the memoization cache of each TF or preprocessor and of the preprocessors it runs (in the kernel)."""
    seen: set[int] = set()
    todo = list(mappers)
    while todo:
        mapper = todo.pop()
        if id(mapper) in seen:
            continue
        seen.add(id(mapper))
        reset = getattr(mapper, "reset_cache", None)
        if callable(reset):
            with contextlib.suppress(Exception):
                reset()
        todo.extend(pre for pre in (getattr(mapper, "_pre", None) or []) if pre is not None)


@kernel_side
def _call_each_with(func: Any, calls: Sequence[tuple]) -> list[dict]:
    return [_attempt(func, *args) for args in calls]


@kernel_side
def _apply_in_kernel(tfs: Sequence[Any], policy: Any, frame: pd.DataFrame, seed: int) -> dict:
    from snorkel.augmentation import PandasTFApplier

    return _attempt(lambda: PandasTFApplier(list(tfs), policy).apply(frame, progress_bar=False), seed=seed)


@kernel_side
def _score_in_kernel(model: Any, frame: pd.DataFrame) -> dict:
    return _attempt(lambda: float(model.score(frame["text"], frame["label"])))


@kernel_side
def _editing_input(tfs: Sequence[Any], points: Sequence[pd.Series], seed: int) -> list[bool]:
    return [any("changed" in _keeps_input_report(tf, point, seed) for point in points) for tf in tfs]


@kernel_side
def source_of(func: Any) -> str | None:
    """The source of the function inside ``func`` (a TF, an LF, a plain function), or None when it cannot be read."""
    import inspect
    import textwrap

    try:
        return textwrap.dedent(inspect.getsource(unwrap(func)))
    except (OSError, TypeError):
        return None


@kernel_side
def assignment_source(name: str) -> str | None:
    """The source of the last cell the notebook ran that assigns the top-level ``name`` (None when unknown)."""
    import ast

    from autograder.checks.bridge import learner_namespace

    history = learner_namespace().get("In", [])
    if not isinstance(history, list):
        return None
    for source in reversed(history):
        if type(source) is not str or name not in source:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        if any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            for node in tree.body
        ):
            return source
    return None


@kernel_side
def _refit_and_score(model: Any, train_frame: pd.DataFrame, test_frame: pd.DataFrame) -> dict:
    from sklearn.base import clone

    def refit() -> float:
        fresh = clone(model).fit(train_frame["text"], train_frame["label"])
        return float(fresh.score(test_frame["text"], test_frame["label"]))

    return _attempt(refit)


# --------------------------------------------------------------------------- verdicts, where the check runs


def _in_kernel(helper: Callable, *args: Any, name: str, **kwargs: Any) -> Any:
    """Call a kernel-side helper; the learner's kernel stopping it (a TF that loops forever) is a failed check."""
    try:
        return helper(*args, **kwargs)
    except LearnerError as error:
        if error.type_name == "KeyboardInterrupt":
            raise CheckFailed(f"`{name}` ran too long and was stopped. Does it loop forever?") from None
        raise CheckFailed(f"`{name}` raised {error.type_name}: {show(error.message)}.") from None


def _outcome_value(outcome: Any, *, name: str, about: str, quote: bool = True) -> Any:
    """The value of an outcome, or the learner's error as :func:`~autograder.checks.call_safely` words it.

    ``quote=False`` (the call was on a held-out comment): the error's message is left out, since the learner's
    exception may carry words of the comment (``KeyError: 'Shakira'``)."""
    if type(outcome) is not dict or not ("value" in outcome or "error" in outcome):
        raise CheckFailed(
            f"The notebook's kernel answered the check of `{name}` with {show(outcome, 60)}, "
            "not with the outcome of a call."
        )
    if "error" in outcome:
        kind, message = (list(outcome["error"]) + ["", ""])[:2]
        where = f" on {about}" if about else ""
        if kind == "KeyboardInterrupt":
            raise CheckFailed(f"`{name}` ran too long{where} and was stopped. Does it loop forever?")
        if not quote:
            raise CheckFailed(
                f"`{name}` raised {kind}{where} (its message is not shown: it may quote the comment)."
            )
        raise CheckFailed(f"`{name}` raised {kind}: {show(message)}{where}.")
    return outcome["value"]


def call_many(
    func: Callable, calls: Sequence[tuple], *, name: str, about: Callable[[tuple], str] | None = None
) -> list:
    """``[func(*args) for args in calls]`` in one request to the kernel, with ``call_safely``'s messages
    (the first call that raised, in order, fails the check)."""
    calls = [tuple(args) for args in calls]
    outcomes = _in_kernel(_call_each_with, func, tuple(calls), name=name)
    _expect_list(outcomes, len(calls), name)
    return [
        _outcome_value(outcome, name=name, about=about(args) if about else "")
        for args, outcome in zip(calls, outcomes, strict=True)
    ]


def _expect_list(value: Any, length: int, name: str) -> None:
    if type(value) is not list or len(value) != length:
        raise CheckFailed(
            f"The notebook's kernel answered the check of `{name}` with {show(value, 60)}, "
            f"not with {length} outcomes."
        )


def prepare(tf: Any, point: pd.Series, *, name: str) -> pd.Series:
    """The point as ``tf``'s own function receives it: a copy, passed through the TF's preprocessors.

    The preprocessors run without their cache: a TF that edited a cached point
    in place in an earlier call must not hide its edit behind that cache.
    (In the learner's kernel: the point's ``doc`` is a live spaCy object.)
    """
    x, error = _prepared(tf, point)
    if error is not None:
        _outcome_value(
            {"error": error}, name=f"the preprocessor of `{name}`", about=f"the comment {show(point['text'])}"
        )
    return x


def _about(point: pd.Series, label: str | None = None) -> str:
    """How a message names the point: its text, or ``label`` for a held-out comment (never quoted)."""
    return label if label is not None else f"the comment {show(point['text'], 60)}"


def _checked_result(
    outcome: Any, point: pd.Series, *, name: str, label: str | None = None
) -> pd.Series | None:
    result = _outcome_value(outcome, name=name, about=_about(point, label), quote=label is None)
    if result is not None and not isinstance(result, pd.Series):
        what = f"a {type_name(result)}" if label is not None else f"{show(result)} (a {type_name(result)})"
        raise CheckFailed(
            f"`{name}` returned {what} for {_about(point, label)}. "
            "A TF returns a data point like the one it was given (a pandas Series), or None when it cannot apply."
        )
    return result


def _trials(
    tf: Any,
    points: Sequence[pd.Series],
    *,
    name: str,
    seed: int | Sequence[int],
    contract: bool,
    tables: dict | None = None,
) -> list[dict]:
    points = list(points)
    seed = tuple(seed) if isinstance(seed, list | tuple) else seed
    if isinstance(seed, tuple) and len(seed) != len(points):
        raise ValueError("one seed per point")
    trials = _in_kernel(tf_trials, tf, tuple(points), seed, contract, tables, name=name)
    _expect_list(trials, len(points), name)
    if not all(type(trial) is dict and "first" in trial for trial in trials):
        raise CheckFailed(
            f"The notebook's kernel answered the check of `{name}` with something other than trials."
        )
    return trials


def run_tf(tf: Any, point: pd.Series, *, name: str, seed: int = SEED) -> pd.Series | None:
    """Call ``tf`` on ``point`` with seeded generators; check it returned a data point or ``None``."""
    trial = _trials(tf, [point], name=name, seed=seed, contract=False)[0]
    return _checked_result(trial["first"], point, name=name)


def _judge_keeps_input(report: Any, point: pd.Series, *, name: str, label: str | None = None) -> None:
    if type(report) is not dict:
        raise CheckFailed(f"The notebook's kernel answered the check of `{name}` with {show(report, 60)}.")
    if "error" in report:
        who, kind, message = (list(report["error"]) + ["", "", ""])[:3]
        if who == "pre":
            _outcome_value(
                {"error": [kind, message]},
                name=f"the preprocessor of `{name}`",
                about=label if label is not None else f"the comment {show(point['text'])}",
                quote=label is None,
            )
        _outcome_value({"error": [kind, message]}, name=name, about=_about(point, label), quote=label is None)
    if "changed" in report:
        field, detail = (list(report["changed"]) + ["", ""])[:2]
        detail = str(detail) if label is None else f" ({label}, its `{str(field)[:30]}`)"
        raise CheckFailed(
            f"`{name}` changed the data point it was given{detail}. A TF must leave its input alone: "
            "the spaCy preprocessor hands every TF the same cached point for the same comment. "
            "Start with `x = x.copy()` and edit the copy."
        )


def check_keeps_input(tf: Any, point: pd.Series, *, name: str, seed: int = SEED) -> None:
    """Call the function inside ``tf`` on a prepared copy of ``point``; fail if it edited that copy in place.

    Like :func:`autograder.checks.unchanged_after`, but a spaCy ``Doc`` field is
    compared by identity (a ``Doc`` has no equality), every other field by value.
    Runs in the learner's kernel, where the ``Doc`` lives.
    """
    report = _in_kernel(_keeps_input_in_kernel, tf, point, seed, name=name)
    _judge_keeps_input(report, point, name=name)


@kernel_side
def _keeps_input_in_kernel(tf: Any, point: pd.Series, seed: int) -> dict:
    return _keeps_input_report(tf, point, seed)


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


def text_problems(new: Any, old: str, *, quote: bool = True) -> list[str]:
    """What makes ``new`` unreadable as a transformed version of ``old`` (empty when it is fine).

    ``quote=False`` (a held-out comment): the messages do not quote the text.
    """
    if not isinstance(new, str):
        return [
            f"its text is {show(new)}, not a string"
            if quote
            else f"its text is a {type_name(new)}, not a string"
        ]
    problems = []
    if not new.strip():
        problems.append("its text is empty")
    elif len(new) < MIN_SHRINK * len(old) or len(new) > MAX_GROWTH * len(old) + 20:
        shown = f" {show(new, 60)}" if quote else ""
        problems.append(f"its text{shown} is not the same comment any more (length {len(old)} -> {len(new)})")
    elif isinstance(old, str) and len(old.split()) >= MIN_WORDS:
        left = set(new.split())
        kept = sum(word in left for word in old.split()) / len(old.split())
        if kept < MIN_WORDS_KEPT:
            shown = f" {show(new, 60)}" if quote else ""
            problems.append(
                f"its text{shown} keeps only {kept:.0%} of the comment's words: a TF edits a word or a few, "
                "it does not rewrite the comment"
            )
    # WordNet's joined lemmas ("look_at"): an underscore the TF added, not one the comment had (a link's `a_b`)
    if isinstance(old, str) and new.count("_") > old.count("_"):
        words = [w for w in new.split() if "_" in w and w not in old.split()] or ["_"]
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
    return check_tf_contracts(tf, [point], name=name, applies=applies, seed=seed)[0]


def check_tf_contracts(
    tf: Any,
    points: Sequence[pd.Series],
    *,
    name: str,
    applies: bool | None | Sequence[bool | None],
    seed: int | Sequence[int] = SEED,
    tables: dict | None = None,
    held_out: bool | Sequence[bool] = False,
    hint: str = "Does it look at the right part-of-speech tags or entities in `x.doc`?",
) -> list[pd.Series | None]:
    """:func:`check_tf_contract` on each point (``applies``, ``seed``, ``held_out``: one for all, or one per
    point), in one request to the learner's kernel; the first point that breaks the contract, in order, fails
    the check. A ``held_out`` point is named by its number, never quoted (nor what the TF made of it).

    ``tables`` stand in for helpers the TF calls (see :func:`tf_trials`); ``hint`` ends the message of a TF
    that returned None where it should apply."""
    points = list(points)
    wanted = _per_point(applies, len(points), "applies")
    hidden = _per_point(held_out, len(points), "held_out")
    trials = _trials(tf, points, name=name, seed=seed, contract=True, tables=tables)
    labels = _labels(hidden)
    return [
        _judge_contract(trial, point, name=name, applies=want, label=label, hint=hint)
        for trial, point, want, label in zip(trials, points, wanted, labels, strict=True)
    ]


def _per_point(value: Any, n: int, what: str) -> list:
    values = list(value) if isinstance(value, list | tuple) else [value] * n
    if len(values) != n:
        raise ValueError(f"one `{what}` per point")
    return values


def _labels(hidden: Sequence[bool]) -> list[str | None]:
    """``"held-out comment 3"`` for the third held-out point (its text stays out of the messages), else None."""
    labels, count = [], 0
    for flag in hidden:
        labels.append(held_out_label(count) if flag else None)
        count += bool(flag)
    return labels


def held_out_label(position: int) -> str:
    """How messages name the held-out comment at ``position`` (0-based) of a check's held-out points."""
    return f"held-out comment {position + 1}"


def _judge_contract(
    trial: dict,
    point: pd.Series,
    *,
    name: str,
    applies: bool | None,
    label: str | None = None,
    hint: str = "Does it look at the right part-of-speech tags or entities in `x.doc`?",
) -> pd.Series | None:
    result = _checked_result(trial["first"], point, name=name, label=label)
    about = _about(point, label)
    quote = label is None
    if applies is False:
        if result is not None:
            text = result["text"] if "text" in result.index else result
            shown = f" with text {show(text, 60)}" if quote else ""
            raise CheckFailed(
                f"`{name}` returned a point{shown} for {about}, where it cannot "
                "apply. A TF returns None when it cannot apply."
            )
        return None
    if result is None:
        expect(
            applies is not True, f"`{name}` returned None for {about}, where it should apply. {hint}".rstrip()
        )
        return None
    expect(
        "label" in result.index and "text" in result.index,
        f"`{name}` returned a point without `text` or `label` fields for {about}. Return a copy of the whole point.",
    )
    expect(
        same(result["label"], point["label"]),
        f"`{name}` changed the label from {show(point['label'])} to {show(result['label'])} for {about}. "
        "A TF for data augmentation must preserve the label.",
    )
    lost = [
        str(key)
        for key in point.index
        if key != "text" and (key not in result.index or not same(result[key], point[key]))
    ]
    expect(
        not lost,
        f"`{name}` returned a point whose `{lost[0] if lost else ''}` differs from the one it was given, for {about}. "
        "A TF changes the text only: start from `x.copy()`, which keeps every other field.",
    )
    expect(
        same(result["text"], point["text"]) is False,
        f"`{name}` returned the text unchanged for {about}. When a TF cannot change a point it returns None.",
    )
    problems = text_problems(result["text"], point["text"], quote=quote)
    expect(not problems, f"`{name}` returned a point for {about}, but {problems[0] if problems else ''}.")
    again = _checked_result(trial.get("again"), point, name=name, label=label)
    again_text = None if again is None else again.get("text")
    same_again = again is not None and same(again_text, result["text"])
    if quote:
        gave = f"gave {show(result['text'], 50)} and then {show(again_text, 50)}"
    else:
        gave = "gave two different results" if again is not None else "gave a point and then None"
    expect(
        same_again,
        f"`{name}` {gave} for {about} with the same seed. Draw random choices from `random` or `np.random` only.",
    )
    _judge_keeps_input(trial.get("keeps"), point, name=name, label=label)
    return result


def check_synonym_result(
    result: pd.Series,
    point: pd.Series,
    doc: Any,
    *,
    name: str,
    pos_tag: str,
    lookup: Callable[[str], str | None],
    label: str | None = None,
) -> None:
    """``result`` must be ``point`` with exactly one ``pos_tag`` token of ``doc`` replaced by ``lookup(token)``,
    at that token's place (a token glued to others, like the ``G`` of ``4G``, included); the rest unchanged.

    ``label``: how to name a held-out comment (its text is then not quoted)."""
    new = result["text"]
    old = point["text"]
    for token in doc:
        if token.pos_ != pos_tag:
            continue
        replacement = lookup(token.text)
        if replacement and new == old[: token.idx] + replacement + old[token.idx + len(token.text) :]:
            return
    turned = (
        f"turned {show(old, 50)} into {show(new, 50)}" if label is None else f"changed {label} into a text"
    )
    raise CheckFailed(
        f"`{name}` {turned}, which is not one {pos_tag} of the comment "
        f"replaced by its synonym. Pick among the tokens whose `pos_` is {pos_tag!r}."
    )


def share_applied(
    tf: Any, frame: pd.DataFrame, *, name: str, seed: int = SEED, held_out: bool = False
) -> tuple[float, list[tuple]]:
    """The share of ``frame``'s rows that ``tf`` transforms, and the (point, result) pairs it transformed
    (one request to the learner's kernel for all rows). ``held_out``: the rows are named by their number
    (:func:`held_out_label` of their position), never quoted."""
    points = [point for _, point in frame.iterrows()]
    trials = _trials(tf, points, name=name, seed=seed, contract=False)
    labels = _labels([held_out] * len(points))
    pairs = []
    for point, trial, label in zip(points, trials, labels, strict=True):
        result = _checked_result(trial["first"], point, name=name, label=label)
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
        return [f"`{name}` is a {type_name(policy)}, not a {kind.__name__}."]
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
        if not same(found[key], value):
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
    """Apply ``tfs`` with ``policy`` to ``frame`` as the notebook does (seeded, quiet, no progress bar), in the
    learner's kernel, where the TFs, the policy and the generators they draw from live."""
    outcome = _in_kernel(_apply_in_kernel, tuple(tfs), policy, frame, seed, name="PandasTFApplier")
    if type(outcome) is dict and "error" in outcome:
        kind, message = (list(outcome["error"]) + ["", ""])[:2]
        raise CheckFailed(
            f"Applying your TFs with your policy raised {kind}: {show(message)}. "
            "Fix the TF that fails first (its own test cell names the input)."
        )
    frame = _outcome_value(outcome, name="PandasTFApplier", about="")
    if not isinstance(frame, pd.DataFrame):
        raise CheckFailed(f"Applying your TFs with your policy gave {show(frame, 60)}, not a DataFrame.")
    return frame


def model_accuracy(model: Any, frame: pd.DataFrame, *, name: str) -> float:
    """``model.score(frame["text"], frame["label"])`` of the learner's fitted model, in its kernel."""
    outcome = _in_kernel(_score_in_kernel, model, frame, name=name)
    if type(outcome) is dict and "error" in outcome:
        kind, message = (list(outcome["error"]) + ["", ""])[:2]
        raise CheckFailed(
            f"`{name}.score(...)` raised {kind}: {show(message)}. Is `{name}` a fitted pipeline?"
        )
    accuracy = _outcome_value(outcome, name=name, about="")
    if type(accuracy) is not float:
        raise CheckFailed(f"`{name}.score(...)` gave {show(accuracy)}, not an accuracy.")
    return accuracy


def editing_input(
    tfs: Sequence[Any], names: Sequence[str], points: Sequence[pd.Series], *, seed: int = SEED
) -> list[str]:
    """The names of the TFs that edit the (prepared) point they are given, on any of ``points``."""
    flags = _in_kernel(_editing_input, tuple(tfs), tuple(points), seed, name=", ".join(names))
    _expect_list(flags, len(names), ", ".join(names))
    return [name for name, flag in zip(names, flags, strict=True) if flag is True]


def typed_in(name: str) -> bool:
    """Whether the notebook's last assignment to ``name`` is a constant expression (a number typed in, not
    computed from objects); False when its source cannot be found."""
    import ast

    source = assignment_source(name)
    if type(source) is not str:
        return False
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    values = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    import builtins

    names = {node.id for node in ast.walk(values[-1]) if isinstance(node, ast.Name)} if values else set()
    return bool(values) and not names - set(dir(builtins))


def retrained_accuracy(
    model: Any, train_frame: pd.DataFrame, test_frame: pd.DataFrame, *, name: str
) -> float:
    """Accuracy on ``test_frame`` of a fresh copy of ``model`` (same recipe, same seed) fit on ``train_frame``.

    The learner's fitted model is never touched: :func:`sklearn.base.clone` copies its recipe, in the
    learner's kernel, where the model lives.
    """
    outcome = _in_kernel(_refit_and_score, model, train_frame, test_frame, name=name)
    if type(outcome) is dict and "error" in outcome:
        kind, message = (list(outcome["error"]) + ["", ""])[:2]
        raise CheckFailed(
            f"Retraining `{name}`'s recipe raised {kind}: {show(message)}. "
            "It should be a scikit-learn pipeline that takes the comments' text."
        )
    accuracy = _outcome_value(outcome, name=name, about="")
    if type(accuracy) is not float:
        raise CheckFailed(f"Retraining `{name}`'s recipe gave {show(accuracy)}, not an accuracy.")
    return accuracy
