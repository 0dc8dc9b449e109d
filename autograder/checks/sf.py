"""Checks for lab 3 (slicing functions): membership, slice matrices, slice score tables, slice-aware models.

Logic only: the held-out comments, the rules' expected memberships and the
thresholds are written in the notebook's hidden test blocks and passed in. Every
check takes the learner's object and the name it has in the notebook, so that a
message can speak about *their* object: observation, then what a correct answer
does in general terms, then at most one hint. No check modifies a learner's object.

The checks read the same in the learner's kernel and in the grader's checker, where the
learner's SFs are snorkel objects whose function asks the kernel: a learner's function is
called over all the cases of a check in one request (:func:`memberships`), the slice matrix
is recomputed by the learner's own applier next to their SFs, and a slice-aware model is run
where it lives (:func:`sliceaware_predictions`), its plain predictions scored here.

A case is a pair ``(point, expected)``: ``point`` is a comment's text (made into
a data point with :func:`make_point`) or a row of a split (a ``pandas.Series``),
and ``expected`` says whether the comment belongs in the slice.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autograder.checks import (
    CheckFailed,
    NotAnswered,
    call_safely,
    expect,
    held_out_split,
    is_stub,
    quietly,
    require_answer,
    require_function,
    same,
    show,
)
from autograder.checks.codec import CodecError
from autograder.checks.remote import LearnerError, is_handle, kernel_side, map_remote, type_name
from labeling_labs.constants import SEED
from labeling_labs.data import make_point

__all__ = [
    "band_points",
    "check_comparison",
    "check_improved_slices",
    "check_keyword_factory",
    "check_membership",
    "check_slice_examples",
    "check_slice_matrix",
    "check_slice_sizes",
    "check_slice_table",
    "check_slice_table_shape",
    "check_sliceaware_model",
    "check_keyword_lookup",
    "check_memoized",
    "check_predictions",
    "check_sliceaware_table",
    "check_sliceaware_training",
    "check_uses_preprocessor",
    "empty_slices",
    "missing_cause",
    "reference_sliceaware",
    "reference_sliceaware_scores",
    "require_result",
    "runs_preprocessor",
    "sfs_cause",
    "sliceaware_fingerprint",
    "weights_fingerprint",
    "check_weakest_slice",
    "course_features",
    "held_out_split",
    "make_point",
    "membership",
    "memberships",
    "precision_recall",
    "preprocessor_names",
    "recompute_sliceaware",
    "reference_baseline",
    "require_sf",
    "sliceaware_predictions",
    "sliceaware_scores",
    "slice_names_of",
    "slice_table_series",
]

#: Two scores this close are the same score: F1 values are recomputed from the same predictions, so they agree
#: to the last bits (one comment more or less in a slice of 250 moves an F1 by far more than this).
TOLERANCE = 1e-9


# --- slicing functions -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds, so that a message shows ``5``, not ``np.int64(5)``."""
    return value.item() if isinstance(value, np.generic) else value


def _as_point(point: Any) -> pd.Series:
    return point if isinstance(point, pd.Series) else make_point(point)


@functools.lru_cache(maxsize=1)
def _course_features() -> dict:
    from sklearn.feature_extraction.text import CountVectorizer

    from labeling_labs.data import load_spam_splits

    splits = load_spam_splits(train_labels=True)
    vectorizer = CountVectorizer(ngram_range=(1, 1))
    X_train = vectorizer.fit_transform(splits.train["text"]).toarray().astype(np.float32)
    X_test = vectorizer.transform(splits.test["text"]).toarray().astype(np.float32)
    return {
        "train": splits.train,
        "test": splits.test,
        "X_train": X_train,
        "X_test": X_test,
        "y_train": splits.train["label"].to_numpy(),
        "y_test": splits.test["label"].to_numpy(),
    }


def course_features() -> dict:
    """The assignment's data as its given cells make it, read from the course's files (never from the
    notebook's variables): ``train`` and ``test`` (frames), ``X_train``/``X_test`` (word counts of a
    ``CountVectorizer`` fitted on train, ``float32``) and ``y_train``/``y_test``. Fresh copies each call."""
    data = _course_features()
    return {key: value.copy() for key, value in data.items()}


@functools.lru_cache(maxsize=1)
def _reference_baseline() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    data = _course_features()
    model = LogisticRegression(C=0.001, solver="liblinear", random_state=SEED)
    with quietly():
        model.fit(data["X_train"], data["y_train"])
        return model.predict(data["X_test"]), model.predict_proba(data["X_test"])


def reference_baseline() -> tuple[np.ndarray, np.ndarray]:
    """``(preds, probs)`` of the assignment's given baseline on test, trained here from the course's files."""
    preds, probs = _reference_baseline()
    return preds.copy(), probs.copy()


def require_sf(sf: Any, name: str) -> Any:
    """Check that ``sf`` is answered and is a snorkel ``SlicingFunction``."""
    from snorkel.slicing import SlicingFunction

    require_answer(sf, name)
    if not isinstance(sf, SlicingFunction):
        hint = (
            " A labeling function is not a slicing function: use @slicing_function()."
            if type_name(sf) == "LabelingFunction"
            else " Did you forget the @slicing_function() decorator?"
        )
        raise CheckFailed(f"`{name}` is a {type_name(sf)}, not a SlicingFunction.{hint}")
    return require_function(sf, name)


def _outcomes(func: Any, points: list) -> list[tuple[bool, Any]]:
    """``[(True, func(point)) or (False, the exception)]`` for each point, in order.

    A learner's function behind a handle (in the checker) is called over every point in one
    request to the kernel; changes it makes to a point are mirrored onto ``points``.
    """
    if is_handle(func) and points:
        return map_remote(func, list(points))
    outcomes = []
    for point in points:
        try:
            with quietly():
                outcomes.append((True, func(point)))
        except (NotAnswered, CheckFailed, CodecError):
            raise
        except Exception as error:
            outcomes.append((False, error))
    return outcomes


def _raise(error: BaseException):
    def again(*_args: Any) -> Any:
        raise error

    return again


def _about(point: pd.Series) -> str:
    return f"the comment {show(point['text'])}"


#: How a message names a held-out comment: never by its text.
HELD_OUT = "a held-out comment"


def _answer(
    name: str, point: pd.Series, before: pd.Series, outcome: tuple[bool, Any], *, quote: bool = True
) -> bool:
    """One of ``sf``'s answers, checked: no exception, the point unchanged, True or False.

    With ``quote=False`` (held-out comments) the message names neither the comment nor what
    the SF returned for it (which may be the comment itself), only what kind of mistake it is.
    """
    ok, answer = outcome
    if not ok:
        if quote:  # the same message as calling the function here would give
            call_safely(_raise(answer), point, name=name, about=_about(point))
        kind = answer.type_name if isinstance(answer, LearnerError) else type(answer).__name__
        if kind == "KeyboardInterrupt":
            raise CheckFailed(f"`{name}` ran too long on {HELD_OUT} and was stopped. Does it loop forever?")
        raise CheckFailed(
            f"`{name}` raised {kind} on {HELD_OUT}. Does it work on every kind of comment: empty ones, "
            "ones with emoji, HTML entities such as &amp; or line breaks?"
        )
    expect(
        before.equals(point) and list(before.index) == list(point.index),
        f"`{name}` changed the data point it was given. Work on a copy instead, "
        "for example `x = x.copy()` or build a new point.",
    )
    if not isinstance(answer, bool | np.bool_):
        kind = type_name(answer)
        if kind == "Match":
            hint = " `re.search` returns a match or None: wrap it in bool(...)."
        elif answer is None:
            hint = " Did you forget to `return` the answer, or return `re.search(...)` without bool(...)?"
        else:
            hint = " Return the result of a comparison, or wrap the value in bool(...)."
        if not quote:
            raise CheckFailed(
                f"`{name}` returned a {kind} for {HELD_OUT}. A slicing function answers True or False.{hint}"
            )
        raise CheckFailed(
            f"`{name}` returned {show(answer)} (a {kind}) for the comment "
            f"{show(point['text'])}. A slicing function answers True or False.{hint}"
        )
    return bool(answer)


def memberships(sf: Any, name: str, points: Iterable[Any], *, quote: bool = True) -> list[bool]:
    """Ask ``sf`` about each data point (one request to the kernel when graded); each answer must be
    True or False and leave its point unchanged. The first point that breaks the contract fails.

    ``quote=False`` for held-out comments: no message then shows their text.
    """
    points = [_as_point(point) for point in points]
    originals = [copy.deepcopy(point) for point in points]
    outcomes = _outcomes(sf, points)
    return [
        _answer(name, point, before, outcome, quote=quote)
        for point, before, outcome in zip(points, originals, outcomes, strict=True)
    ]


def membership(sf: Any, name: str, point: Any) -> bool:
    """Ask ``sf`` about one data point: it must answer True or False and leave the point unchanged."""
    return memberships(sf, name, [point])[0]


@kernel_side
def preprocessor_names(sf: Any) -> list[str]:
    """The names of the preprocessors a snorkel function runs first (``pre=[...]``), read where it lives."""
    return [str(getattr(pre, "name", None) or type(pre).__name__) for pre in getattr(sf, "_pre", None) or []]


@kernel_side
def runs_preprocessor(sf: Any, pre: Any) -> bool:
    """Whether ``pre`` itself (not another preprocessor of the same name) is one of ``sf``'s preprocessors."""
    return any(candidate is pre for candidate in getattr(sf, "_pre", None) or [])


def check_uses_preprocessor(sf: Any, name: str, pre_name: str, pre: Any = None) -> None:
    """Check that the SF ``sf`` runs a preprocessor, and ``pre`` (the learner's ``<pre_name>``) when given."""
    names = preprocessor_names(sf)
    expect(
        isinstance(names, list) and len(names) > 0,
        f"`{name}` has no preprocessor. Pass `pre=[{pre_name}]` to `@slicing_function`.",
    )
    if pre is not None:
        expect(
            runs_preprocessor(sf, pre) is True,
            f"`{name}` runs the preprocessor(s) {show(names)}, not your `{pre_name}`. "
            f"Pass `pre=[{pre_name}]` to `@slicing_function`, after defining `{pre_name}`.",
        )


def check_memoized(pre: Any, name: str) -> None:
    """Check that the preprocessor ``pre`` was made with ``@preprocessor(memoize=True)``."""
    require_function(pre, name)
    expect(
        getattr(pre, "memoize", None) is True,
        f"`{name}` does not keep its results: make it with `@preprocessor(memoize=True)`, so that TextBlob "
        "runs once per comment however many SFs use it.",
    )


def _case(case: tuple) -> tuple[pd.Series, bool, str]:
    point, expected, *rest = case
    return _as_point(point), bool(expected), str(rest[0]) if rest else ""


def check_membership(
    sf: Any,
    name: str,
    cases: Iterable[tuple],
    *,
    rule: str,
    hint: str = "",
    held_out: bool = False,
) -> int:
    """Check ``sf`` puts every case on the right side of its slice; return how many cases were checked.

    A case is ``(point, expected)`` or ``(point, expected, why)``: ``why`` says what matters about
    that comment, shown when it is the one misplaced (instead of ``hint``). ``rule`` completes the
    sentence "The slice ..." (e.g. "holds the comments with fewer than 5 words"); ``hint`` is one
    optional question or tip for the learner. ``held_out=True``: the cases are held-out comments,
    which a message counts but never quotes.
    """
    require_sf(sf, name)
    cases = [_case(case) for case in cases]
    answers = memberships(sf, name, [point for point, _, _ in cases], quote=not held_out)
    wrong = [
        (point["text"], answer, why)
        for (point, expected, why), answer in zip(cases, answers, strict=True)
        if answer != expected
    ]
    total = len(cases)
    if wrong and held_out:
        extra = sum(answer for _, answer, _ in wrong)
        tip = f" {hint}" if hint else ""
        raise CheckFailed(
            f"`{name}` puts {len(wrong)} of {total} held-out comments on the wrong side of its slice: it selects "
            f"{extra} that it should leave out and leaves out {len(wrong) - extra} that it should select. "
            f"The slice {rule}.{tip}"
        )
    if wrong:
        text, answer, why = wrong[0]
        side = "leave it out" if answer else "select it"
        how_many = "" if len(wrong) == 1 else f" ({len(wrong)} of the {total} comments checked are misplaced)"
        tip = f" {why}" if why else f" {hint}" if hint else ""
        raise CheckFailed(
            f"`{name}` returned {answer} for the comment {show(text)}{how_many}. "
            f"The slice {rule}, so it should {side}.{tip}"
        )
    return total


def check_keyword_lookup(lookup: Any, name: str, cases: Iterable[tuple[str, Sequence[str], bool]]) -> None:
    """Check the plain function ``lookup(x, keywords)`` on ``(text, keywords, expected)`` cases: it answers
    True or False, leaves the point and the keywords unchanged."""
    require_function(lookup, name)
    for text, keywords, expected in cases:
        point, given = make_point(text), list(keywords)
        before = copy.deepcopy(point)
        call = f"{name}(x, {list(keywords)!r})"
        answer = call_safely(lookup, point, given, name=call, about=_about(point))
        expect(
            before.equals(point) and given == list(keywords),
            f"`{call}` changed the data point or the list of keywords it was given. Leave both as they are.",
        )
        expect(
            isinstance(answer, bool | np.bool_),
            f"`{call}` returned {show(answer)} (a {type_name(answer)}) for the comment {show(text)}. "
            "It should return True or False.",
        )
        expect(
            bool(answer) == bool(expected),
            f"`{call}` returned {bool(answer)} for the comment {show(text)}. It should return True when the "
            "lower-cased comment contains one of the keywords, False otherwise.",
        )


def check_keyword_factory(factory: Any, name: str, keywords: Sequence[str], cases: Iterable[tuple]) -> Any:
    """Check a keyword-SF factory: it builds a named SlicingFunction that reads its keywords from resources.

    ``factory(list(keywords))`` is called with keywords the notebook never uses (it must leave
    that list unchanged), and the SF it returns is checked on ``cases``.
    """
    require_function(factory, name)
    call = f"{name}({list(keywords)!r})"
    given = list(keywords)
    sf = call_safely(factory, given, name=name, about=f"the keywords {list(keywords)!r}")
    expect(
        given == list(keywords),
        f"`{call}` changed the list of keywords it was given (it is now {show(given)}). Leave the "
        "caller's list as it is: if you need another list, make a new one.",
    )
    if sf is None:
        raise CheckFailed(f"`{call}` returned None. The factory should return the SlicingFunction it builds.")
    require_sf(sf, call)
    expected_name = f"keyword_{keywords[0]}"
    expect(
        sf.name == expected_name,
        f"`{call}` made an SF named {show(sf.name)}. Name each SF after its first keyword, "
        f"`keyword_<first keyword>`, so that slice tables say which keywords a row is about.",
    )
    resources = getattr(sf, "_resources", {}) or {}
    expect(
        isinstance(resources, dict) and _holds_keywords(resources.get("keywords"), keywords),
        f"`{call}` made an SF whose resources are {show(resources)}. Pass the keywords with "
        f"`resources=dict(keywords=keywords)`, so that one function body serves every keyword list.",
    )
    check_membership(
        sf,
        call,
        cases,
        rule=f"holds the comments that contain one of {list(keywords)!r}, in any case",
        hint="Does the function use the keywords it receives through resources, not a fixed list?",
    )
    return sf


def _holds_keywords(value: Any, keywords: Sequence[str]) -> bool:
    if value is None or isinstance(value, str | bytes | dict):
        return False
    try:
        return [str(item) for item in value] == list(keywords)
    except TypeError:
        return False


def slice_names_of(sfs: Sequence[Any]) -> list[str]:
    """The names of ``sfs`` in order; an unanswered entry (``...``) is called ``sfs[<position>]``."""
    return [str(getattr(sf, "name", None) or f"sfs[{position}]") for position, sf in enumerate(sfs)]


# --- the slice matrix and slice sizes -------------------------------------------------------------------


def _require_recarray(S: Any, name: str) -> np.ndarray:
    require_answer(S, name)
    names = getattr(getattr(S, "dtype", None), "names", None)
    if not isinstance(S, np.ndarray) or not names:
        raise CheckFailed(
            f"`{name}` is {show(S)} (a {type_name(S)}), not the record array that "
            f"`PandasSFApplier(sfs).apply(...)` returns, with one field per slicing function."
        )
    if S.ndim != 1 or any(S.dtype.fields[field][0].kind not in "biu" for field in names):
        raise CheckFailed(
            f"`{name}` is a record array of shape {S.shape} with the field types {show(S.dtype.descr)}. "
            f"`PandasSFApplier(sfs).apply(...)` returns one row per comment and one 0/1 field per slicing function."
        )
    return S


def empty_slices(S: np.ndarray) -> list[str]:
    """The fields of a slice matrix that select no row (snorkel cannot score those slices)."""
    return [field for field in S.dtype.names if not np.asarray(S[field]).astype(bool).any()]


def require_result(value: Any, name: str, *, cause: str | Callable[[], str] = "") -> Any:
    """:func:`require_answer` whose message names why an answer that needs other answers is missing.

    ``cause`` (a text, or a function that makes one, called only when ``value`` is the
    placeholder: see :func:`missing_cause` and :func:`sfs_cause`) says which earlier answer it
    needs, or what stopped the cell; without one, the message is the usual "Not answered yet".
    """
    if is_stub(value):
        reason = cause() if callable(cause) else cause
        if reason:
            raise NotAnswered(f"Not answered yet: `{name}` is still the placeholder. {reason}")
    return require_answer(value, name)


def missing_cause(*needs: tuple[Any, str, str], S: Any = None, S_name: str = "S_test") -> str:
    """Why an answer made from ``needs`` (``(value, name, "question 6")``) may still be the placeholder: the
    first need that is itself unanswered, or an empty slice of ``S`` (which snorkel cannot score); "" if none."""
    for value, name, where in needs:
        if is_stub(value):
            return f"It is made from `{name}` ({where}), which is not answered yet either: answer that first."
    if isinstance(S, np.ndarray) and S.dtype.names:
        empty = empty_slices(S)
        if empty:
            return (
                f"Did your cell stop with an error? The slice {empty[0]!r} holds no comment in `{S_name}`, and "
                "snorkel cannot score an empty slice: make that SF select some comments, then run the cells again."
            )
    return ""


def sfs_cause(sfs: Any, frame: pd.DataFrame, *, split: str) -> str:
    """Why slice matrices of ``sfs`` may still be placeholders: an SF of ``sfs`` that is unanswered, or that
    raises (or answers other than True/False) when applied to ``frame``; "" if every SF applies cleanly."""
    try:
        sfs = list(sfs)
    except TypeError:
        return ""
    for position, sf in enumerate(sfs):
        if is_stub(sf):
            label = getattr(sf, "name", None) or f"sfs[{position}]"
            return f"It needs every SF of `sfs`, and `{label}` is not answered yet: answer it first."
    points = [row for _, row in frame.iterrows()]
    for position, sf in enumerate(sfs):
        label = getattr(sf, "name", None) or f"sfs[{position}]"
        for ok, value in _outcomes(sf, points):
            if not ok:
                kind = value.type_name if isinstance(value, LearnerError) else type(value).__name__
                return (
                    f"Did your cell stop with an error? `{label}` raises {kind} on a comment of `{split}`: fix it "
                    "(its question's checks show how), then run the cells again."
                )
            if not isinstance(value, bool | np.bool_):
                return (
                    f"Did your cell stop with an error? `{label}` returns a {type_name(value)} for a comment of "
                    f"`{split}`, not True or False: fix it (its question's checks show how), then run the cells again."
                )
    return ""


@kernel_side
def apply_sfs_where_they_live(sfs: Sequence[Any], frame: pd.DataFrame) -> dict:
    """``{"S": PandasSFApplier(sfs).apply(frame)}``, or ``{"raised": [type, message]}``: run next to the
    learner's SFs (one request, not one per data point). Only compared with the learner's own slice matrix."""
    from snorkel.slicing import PandasSFApplier

    try:
        with quietly():
            return {"S": PandasSFApplier(list(sfs)).apply(frame.copy(), progress_bar=False)}
    except Exception as error:
        return {"raised": [type(error).__name__, str(error)]}


def _fail_if_raised(result: Any, doing: str, hint: str) -> None:
    """Fail with "<doing> raised <kind>: <message>. <hint>" when a kernel-side helper's ``result`` says
    the learner's code raised (``{"raised": [type name, message]}``)."""
    raised = result.get("raised") if isinstance(result, dict) else None
    if raised is not None:
        kind, message = (str(part) for part in raised)
        raise CheckFailed(f"{doing} raised {kind}: {show(message)}. {hint}")


def _apply_sfs(sfs: Sequence[Any], frame: pd.DataFrame, about: str) -> np.ndarray:
    result = apply_sfs_where_they_live(list(sfs), frame)
    _fail_if_raised(
        result,
        f"Applying `sfs` to {about}",
        "Run the cells of your slicing functions again and check each one on its own.",
    )
    S = result.get("S") if isinstance(result, dict) else None
    if not isinstance(S, np.ndarray) or not S.dtype.names or len(S) != len(frame):
        raise CheckFailed(f"Applying `sfs` to {about} did not give a slice matrix: {show(S)}.")
    return S


def check_slice_matrix(S: Any, name: str, sfs: Sequence[Any], frame: pd.DataFrame, *, split: str) -> None:
    """Check ``S`` is what applying ``sfs`` to ``frame`` (the split called ``split``) gives."""
    S = _require_recarray(S, name)
    for position, sf in enumerate(sfs):
        if is_stub(sf):
            raise CheckFailed(
                f"`{name}` can only be checked once every SF in `sfs` is answered: "
                f"`{getattr(sf, 'name', None) or f'sfs[{position}]'}` is still the placeholder."
            )
    wanted = slice_names_of(sfs)
    expect(
        len(S) == len(frame),
        f"`{name}` has {len(S)} rows, but `{split}` has {len(frame)}. Did you apply the SFs to another split?",
    )
    expect(
        list(S.dtype.names) == wanted,
        f"`{name}` has the fields {list(S.dtype.names)}, but `sfs` holds {wanted}. "
        f"Apply exactly the list `sfs`, in its order.",
    )
    fresh = _apply_sfs(sfs, frame, f"`{split}`")
    for field in wanted:
        differ = int(np.sum(np.asarray(S[field]).astype(int) != np.asarray(fresh[field]).astype(int)))
        expect(
            differ == 0,
            f"Field {field!r} of `{name}` differs on {differ} rows from applying `sfs` to `{split}` now. "
            f"Did you apply them to `{split}`, after running your latest SF cells?",
        )


def check_slice_sizes(sizes: Any, name: str, S: Any, S_name: str) -> None:
    """Check ``sizes`` maps each slice of the learner's matrix ``S`` to its number of members."""
    require_answer(sizes, name)
    S = _require_recarray(S, S_name)
    if isinstance(sizes, dict):
        sizes = pd.Series(sizes)
    if not isinstance(sizes, pd.Series):
        raise CheckFailed(
            f"`{name}` is {show(sizes)} (a {type(sizes).__name__}). It should be a pandas Series "
            f"(or a dict) from slice name to the number of comments in that slice."
        )
    expect(
        [str(key) for key in sizes.index] == list(S.dtype.names),
        f"`{name}` has the keys {show(list(sizes.index))}, but `{S_name}` has the slices "
        f"{list(S.dtype.names)}. Give one size per slice, in the same order.",
    )
    for field in S.dtype.names:
        count = int(np.asarray(S[field]).astype(bool).sum())
        value = sizes[field]
        same = isinstance(value, int | np.integer) and int(value) == count
        expect(
            same,
            f"`{name}` says {show(_plain(value))} for {field!r}, which is not the number of comments that "
            f"`{S_name}` puts in that slice. Count the True values of the slice's field.",
        )


def check_slice_examples(
    examples: Any, name: str, frame: pd.DataFrame, S: Any, field: str, *, split: str
) -> None:
    """Check ``examples`` holds exactly the rows of ``frame`` that ``S[field]`` marks, with all columns, unchanged."""
    require_answer(examples, name)
    if not isinstance(examples, pd.DataFrame):
        raise CheckFailed(
            f"`{name}` is a {type_name(examples)}, not a DataFrame. `slice_dataframe` returns the "
            f"slice's rows as a DataFrame."
        )
    S = _require_recarray(S, "S_" + split)
    expect(len(S) == len(frame), f"`S_{split}` has {len(S)} rows, but `{split}` has {len(frame)}.")
    wanted = list(frame.index[np.asarray(S[field]).astype(bool)])
    expect(
        [str(column) for column in examples.columns] == [str(column) for column in frame.columns],
        f"`{name}` has the columns {list(examples.columns)}. Keep every column of `{split}`.",
    )
    same_rows = (
        len(examples) == len(wanted) and examples.index.is_unique and set(examples.index) == set(wanted)
    )
    expect(
        same_rows,
        f"`{name}` has {len(examples)} rows, not the rows of `{split}` that your {field!r} SF selects. "
        f"Did you slice `{split}` with `slice_dataframe`?",
    )
    for column in frame.columns:
        theirs = examples.loc[wanted, column].tolist()
        ours = frame.loc[wanted, column].tolist()
        expect(
            all(same(a, b) for a, b in zip(theirs, ours, strict=True)),
            f"`{name}` holds the rows of `{split}` that your {field!r} SF selects, but their {column!r} values are "
            f"not those of `{split}`. Take the rows as they are, with `slice_dataframe({split}, ...)`.",
        )


# --- slice score tables ---------------------------------------------------------------------------------


def _same_number(a: Any, b: Any) -> bool:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOLERANCE


def check_slice_table_shape(table: Any, name: str, S: Any, *, S_name: str) -> list[str]:
    """Check ``table`` looks like ``score_slices(S, ..., as_dataframe=True)`` with F1: rows and column; return the rows."""
    require_answer(table, name)
    S = _require_recarray(S, S_name)
    if not isinstance(table, pd.DataFrame):
        raise CheckFailed(
            f"`{name}` is a {type(table).__name__}, not a DataFrame. Pass `as_dataframe=True` to `score_slices`."
        )
    rows = ["overall", *S.dtype.names]
    expect(
        [str(row) for row in table.index] == rows,
        f"`{name}` has the rows {show(list(table.index))}. A slice table for `{S_name}` has 'overall' "
        f"and then one row per slice: {rows}.",
    )
    expect(
        "f1" in table.columns,
        f"`{name}` has the columns {list(table.columns)}. Score with `Scorer(metrics=['f1'])`.",
    )
    return rows


def check_slice_table(
    table: Any,
    name: str,
    S: Any,
    golds: np.ndarray,
    preds: np.ndarray,
    probs: np.ndarray,
    *,
    S_name: str,
    about: str,
) -> None:
    """Check ``table`` is ``Scorer(metrics=["f1"]).score_slices(S, golds, preds, probs, as_dataframe=True)``.

    The scores are recomputed here from the learner's own slice matrix ``S``;
    ``about`` says what ``golds``/``preds`` are, for the message ("the baseline's test predictions").
    """
    from snorkel.analysis import Scorer

    rows = check_slice_table_shape(table, name, S, S_name=S_name)
    try:
        with quietly():
            fresh = Scorer(metrics=["f1"]).score_slices(S, golds, preds, probs, as_dataframe=True)
    except ValueError as error:  # an empty slice: snorkel cannot score it
        raise CheckFailed(
            f"Scoring {about} with `{S_name}` raised ValueError: {show(str(error))}. "
            f"Is one of your slices empty on this split?"
        ) from None
    for row in rows:
        value = table.loc[row, "f1"]
        expect(
            _same_number(value, fresh.loc[row, "f1"]),
            f"Row {row!r} of `{name}` says F1 = {show(_plain(value))}, which is not what scoring {about} "
            f"with `{S_name}` gives. Did you score the test split, with its gold labels?",
        )


def slice_table_series(table: Any, name: str) -> pd.Series:
    """The ``f1`` column of a learner's slice table, as a Series (for comparisons)."""
    require_answer(table, name)
    if not isinstance(table, pd.DataFrame) or "f1" not in table.columns:
        raise CheckFailed(f"`{name}` is not a slice table with an 'f1' column: {show(table)}.")
    column = table["f1"]
    try:
        return column.astype(float) if isinstance(column, pd.Series) else None
    except (TypeError, ValueError):
        pass
    raise CheckFailed(f"The 'f1' column of `{name}` does not hold one number per row: {show(column)}.")


def check_predictions(
    preds: Any, probs: Any, reference_preds: np.ndarray, reference_probs: np.ndarray, *, about: str
) -> None:
    """Check ``preds_test`` and ``probs_test`` against the reference predictions and class probabilities of the
    model that ``about`` names (they are deterministic: the same model gives the very same numbers)."""
    require_answer(preds, "preds_test")
    require_answer(probs, "probs_test")
    n = len(reference_preds)
    for value, name, shape in [(preds, "preds_test", (n,)), (probs, "probs_test", reference_probs.shape)]:
        what = (
            f"an array of shape {value.shape}"
            if isinstance(value, np.ndarray)
            else f"{show(value)} (a {type_name(value)})"
        )
        expect(
            isinstance(value, np.ndarray) and value.shape == shape and value.dtype.kind in "biuf",
            f"`{name}` is {what}, not an array of numbers of shape {shape}: "
            + (
                "one predicted label per test comment."
                if name == "preds_test"
                else "one row per test comment and one column per class, as `predict_proba` gives."
            ),
        )
    differ = int(np.sum(preds.astype(float) != reference_preds.astype(float)))
    expect(
        differ == 0,
        f"`preds_test` differs on {differ} of {n} test comments from the predictions of {about}. "
        "Did you predict `X_test` with `baseline.predict`?",
    )
    expect(
        bool(np.allclose(probs.astype(float), reference_probs, rtol=0, atol=1e-9)),
        f"`probs_test` is not what {about} gives as class probabilities. Use `baseline.predict_proba(X_test)`.",
    )


def check_weakest_slice(weakest: Any, name: str, table: Any, table_name: str) -> None:
    """Check ``weakest`` names a slice (not 'overall') with the lowest F1 in the learner's own table."""
    require_answer(weakest, name)
    scores = slice_table_series(table, table_name).drop("overall", errors="ignore")
    expect(scores.index.is_unique and len(scores) > 0, f"`{table_name}` does not have one row per slice.")
    expect(
        isinstance(weakest, str),
        f"`{name}` is {show(weakest)} (a {type(weakest).__name__}). Give the slice's name as a string.",
    )
    expect(
        weakest in scores.index,
        f"`{name}` is {show(weakest)}, which is not one of the slices in `{table_name}`: {list(scores.index)}.",
    )
    lowest = float(scores.min())
    expect(
        _same_number(scores[weakest], lowest),
        f"`{name}` is {weakest!r}, whose F1 in `{table_name}` is {float(scores[weakest]):.3f}; another slice "
        f"scores lower. Take the slice with the lowest F1, leaving out 'overall'.",
    )


# --- the slice-aware model ------------------------------------------------------------------------------


def check_sliceaware_model(model: Any, name: str, slice_names: Sequence[str]) -> None:
    """Check ``model`` is a ``SliceAwareClassifier`` built for exactly ``slice_names``."""
    from snorkel.slicing import SliceAwareClassifier

    require_answer(model, name)
    if not isinstance(model, SliceAwareClassifier):
        raise CheckFailed(
            f"`{name}` is a {type_name(model)}, not a SliceAwareClassifier. Build it with "
            f"`SliceAwareClassifier(base_architecture, head_dim, slice_names, scorer)`."
        )
    given = [str(name_) for name_ in (model.slice_names or []) if name_ != "base"]
    expect(
        given == list(slice_names),
        f"`{name}` was built for the slices {given}, not for the SFs in `sfs`: {list(slice_names)}.",
    )


def sliceaware_scores(frame: Any, name: str, task: str = "task") -> pd.Series:
    """The F1 per slice ('overall' first) of a ``SliceAwareClassifier.score_slices(..., as_dataframe=True)`` table."""
    from labeling_labs.slicing import slice_scores_by_name

    require_answer(frame, name)
    if not isinstance(frame, pd.DataFrame) or not {"label", "metric", "score"} <= set(frame.columns):
        raise CheckFailed(
            f"`{name}` is {show(frame)}, not the table `score_slices(..., as_dataframe=True)` returns."
        )
    try:
        return slice_scores_by_name(frame, task_name=task, metric="f1").astype(float)
    except Exception as error:  # a table of another shape: whatever slice_scores_by_name trips on
        raise CheckFailed(
            f"`{name}` has no F1 scores per slice: {type(error).__name__}: {show(str(error))}."
        ) from None


@kernel_side
def sliceaware_predictions(model: Any, X: Any = None) -> dict:
    """``{"preds", "probs"}`` of the base task of a copy of the learner's slice-aware ``model`` on ``X``
    (default: the course's test features, :func:`course_features`), or ``{"raised": [type, message]}``.

    Runs where the model lives (in the learner's kernel when graded); the model itself is left untouched.
    These are the learner's own model's answers: scores are computed from them by the caller.
    """
    import torch
    from snorkel.classification import DictDataLoader, DictDataset

    features = course_features()["X_test"] if X is None else np.asarray(X)
    try:
        with quietly():
            twin = copy.deepcopy(model)
            task = twin.base_task.name
            dataset = DictDataset.from_tensors(
                torch.as_tensor(features, dtype=torch.float32),
                torch.zeros(len(features), dtype=torch.long),
                "test",
                task_name=task,
            )
            results = twin.predict(DictDataLoader(dataset, batch_size=256), return_preds=True)
    except Exception as error:
        return {"raised": [type(error).__name__, str(error)]}
    return {
        "preds": np.asarray(results["preds"][task]).astype(int).reshape(-1),
        "probs": np.asarray(results["probs"][task], dtype=float),
    }


def _slice_f1(
    S: np.ndarray, golds: np.ndarray, preds: np.ndarray, probs: np.ndarray, *, name: str
) -> pd.Series:
    """F1 of ``preds`` overall and on each slice of ``S``, as ``SliceAwareClassifier.score_slices`` computes
    it: each slice's gold labels outside the slice are masked with -1."""
    from snorkel.analysis import Scorer

    scorer = Scorer(metrics=["f1"])
    golds = np.asarray(golds).astype(int)
    scores = {"overall": scorer.score(golds, preds, probs)["f1"]}
    for field in S.dtype.names:
        member = np.asarray(S[field]).astype(bool)
        if not member.any():
            raise CheckFailed(
                f"`{name}` cannot be scored on the slice {field!r}: it holds no test comment in `S_test`, and "
                f"snorkel cannot score an empty slice. Make that SF select some test comments first."
            )
        with quietly():
            scores[field] = scorer.score(np.where(member, golds, -1), preds, probs)["f1"]
    return pd.Series(scores, dtype=float, name="f1")


def recompute_sliceaware(model: Any, name: str, X: Any, y: np.ndarray, S: np.ndarray) -> pd.Series:
    """F1 per slice ('overall' first) of the learner's model on ``X`` (``None``: the course's test features)
    against the gold labels ``y``, with the slices of ``S``: the model predicts (on a copy, where it lives),
    the scores are computed here."""
    S = _require_recarray(S, "S_test")
    result = sliceaware_predictions(model, X)
    _fail_if_raised(
        result,
        f"Scoring `{name}` on the test features",
        "Does its base architecture take the `X_test` features as they are?",
    )
    preds = np.asarray(result.get("preds")) if isinstance(result, dict) else None
    probs = np.asarray(result.get("probs")) if isinstance(result, dict) else None
    golds = np.asarray(y)
    if (
        preds is None
        or probs is None
        or preds.shape != golds.shape
        or len(probs) != len(golds)
        or len(S) != len(golds)
    ):
        raise CheckFailed(
            f"Scoring `{name}` on the test features did not give one prediction per test comment "
            f"({len(golds)}, with `S_test` of {len(S)} rows). Does its base architecture take the `X_test` "
            f"features as they are?"
        )
    return _slice_f1(S, golds, preds, probs, name=name)


#: How many weights of each parameter a fingerprint samples (at fixed, evenly spread positions).
FINGERPRINT_SAMPLES = 64


def weights_fingerprint(weights: dict) -> dict:
    """``{parameter: {"shape", "sums", "samples"}}`` of a ``state_dict`` (as arrays): its shape, the sum, the sum
    of absolute values and of squares of its weights, and a few of them. Two models trained differently differ
    in it; the very same weights give the very same fingerprint (so no 3916 x 32 matrix need cross the wire)."""
    prints = {}
    for key, value in weights.items():
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
        where = np.unique(
            np.linspace(0, max(len(flat) - 1, 0), num=min(len(flat), FINGERPRINT_SAMPLES)).astype(int)
        )
        prints[str(key)] = {
            "shape": [int(n) for n in np.shape(value)],
            "sums": [float(flat.sum()), float(np.abs(flat).sum()), float((flat * flat).sum())],
            "samples": [float(v) for v in flat[where]] if len(flat) else [],
        }
    return prints


@kernel_side
def sliceaware_fingerprint(model: Any) -> dict:
    """``{"fingerprint": ...}`` (see :func:`weights_fingerprint`) of the learner's model's ``state_dict``, or
    ``{"raised": [type, message]}``: read where the model lives, compared here with the recipe's."""
    try:
        weights = {str(key): value.detach().cpu().numpy() for key, value in model.state_dict().items()}
    except Exception as error:
        return {"raised": [type(error).__name__, str(error)]}
    return {"fingerprint": weights_fingerprint(weights)}


@contextlib.contextmanager
def _own_random_state():
    """Seed and train inside, then give Python, NumPy and PyTorch back the state they had (so a check run in
    the learner's own kernel leaves their random generators and torch settings as it found them)."""
    import random

    import torch

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    threads = torch.get_num_threads()
    deterministic = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        torch.set_num_threads(threads)
        set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
        if set_flag is not None:
            set_flag(deterministic[0], warn_only=deterministic[1])
        else:  # pragma: no cover - another PyTorch
            torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])


def _seed_like_seed_everything() -> None:
    """What :func:`labeling_labs.slicing.seed_everything` does, without its one slow step where it is not
    needed: ``torch.use_deterministic_algorithms`` also imports torch's compiler (seconds, for a flag that
    only compiled models read); the grader sets the same flag of PyTorch's operators directly. The perfect
    submission's full marks on question 8 (same weights as the learner's kernel) prove the two agree."""
    import random

    import torch

    torch.set_num_threads(1)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is not None:
        set_flag(True, warn_only=False)
    else:  # pragma: no cover - another PyTorch
        torch.use_deterministic_algorithms(True)


@functools.lru_cache(maxsize=4)
def _reference_sliceaware(slice_names: tuple[str, ...], fields: tuple[str, ...], S_bytes: bytes) -> dict:
    import torch
    from snorkel.analysis import Scorer
    from snorkel.classification import DictDataLoader, Trainer
    from snorkel.slicing import SliceAwareClassifier

    from labeling_labs.slicing import dict_dataset, small_mlp

    columns = np.frombuffer(S_bytes, dtype=np.int64).reshape(len(fields), -1)
    S_train = np.rec.fromarrays(list(columns), names=list(fields))
    data = _course_features()
    with _own_random_state(), quietly():
        _seed_like_seed_everything()
        model = SliceAwareClassifier(
            base_architecture=small_mlp(data["X_train"].shape[1], hidden_dim=32, num_layers=1),
            head_dim=32,
            slice_names=list(slice_names),
            scorer=Scorer(metrics=["f1"]),
        )
        train_loader = model.make_slice_dataloader(
            dict_dataset(data["X_train"], data["y_train"], "train"),
            S_train.copy(),
            batch_size=32,
            shuffle=True,
        )
        Trainer(n_epochs=2, lr=1e-3, progress_bar=False).fit(model, [train_loader])
        results = model.predict(
            DictDataLoader(dict_dataset(data["X_test"], data["y_test"], "test"), batch_size=256),
            return_preds=True,
        )
    task = model.base_task.name
    return {
        "weights": {key: value.detach().cpu().numpy().copy() for key, value in model.state_dict().items()},
        "preds": np.asarray(results["preds"][task]).astype(int).reshape(-1),
        "probs": np.asarray(results["probs"][task], dtype=float),
        "threads": torch.get_num_threads(),
    }


def warm_up() -> None:
    """Do once, in a process that checkers are forked from, what every checker of assignment 3 does first:
    featurise the course's train and test, fit the given baseline, and train the slice-aware recipe once
    (on one empty slice, a key no learner's slices have), which pays PyTorch's first training. Nothing
    of a learner is read; the recipe seeds itself on every call, so what a checker computes later is the
    same as without this."""
    rows = len(_course_features()["X_train"])
    _reference_baseline()
    _reference_sliceaware(("warm_up",), ("warm_up",), np.zeros(rows, dtype=np.int64).tobytes())


def reference_sliceaware(slice_names: Sequence[str], S_train: Any) -> dict:
    """Question 8's recipe trained here, on the course's own train features and labels, for the learner's
    slices (their SFs' names and their ``S_train``, so that a mistake upstream is not counted twice):
    ``{"weights", "preds", "probs"}`` (the test predictions of its base task). The recipe is deterministic,
    so a model trained as the question says has exactly these weights."""
    S_train = _require_recarray(S_train, "S_train")
    data = _course_features()
    expect(
        len(S_train) == len(data["X_train"]),
        f"`S_train` has {len(S_train)} rows, but `train` has {len(data['X_train'])}: the slice-aware model is "
        "trained on `S_train`, so fix question 6 first.",
    )
    fields = tuple(str(field) for field in S_train.dtype.names)
    columns = np.stack([np.asarray(S_train[field]).astype(np.int64) for field in fields])
    try:
        reference = _reference_sliceaware(tuple(str(name) for name in slice_names), fields, columns.tobytes())
    except Exception as error:  # the recipe cannot run on these slices (names that do not match S_train, say)
        raise CheckFailed(
            f"The recipe of this question cannot be trained with the slices of `sfs` and your `S_train` "
            f"({type(error).__name__}: {show(str(error))}). Do the fields of `S_train` match `sfs` (question 6)?"
        ) from None
    return {
        key: (value.copy() if isinstance(value, np.ndarray) else value) for key, value in reference.items()
    }


def _differs(a: Any, b: float) -> float:
    try:
        a = float(a)
    except (TypeError, ValueError):
        return math.inf
    return abs(a - b) / max(1.0, abs(b)) if not math.isnan(a) else math.inf


def check_sliceaware_training(model: Any, name: str, reference: dict) -> None:
    """Check that the learner's model has the weights the recipe gives (``reference``, from
    :func:`reference_sliceaware`): built, seeded and trained as the question says, on the train split only.

    The learner's weights are compared through their fingerprints (:func:`weights_fingerprint`): equal
    weights agree to the last bit; a model trained on other data, for other epochs or from another seed
    differs by orders of magnitude more than the tolerance of 1e-6."""
    result = sliceaware_fingerprint(model)
    raised = result.get("raised") if isinstance(result, dict) else None
    if raised is not None:
        kind, message = (str(part) for part in raised)
        raise CheckFailed(f"The weights of `{name}` cannot be read: {kind}: {show(message)}.")
    theirs = result.get("fingerprint") if isinstance(result, dict) else None
    ours = weights_fingerprint(reference["weights"])
    built = (
        isinstance(theirs, dict)
        and set(theirs) == set(ours)
        and all(
            isinstance(theirs[key], dict) and theirs[key].get("shape") == ours[key]["shape"] for key in ours
        )
    )
    if not built:
        raise CheckFailed(
            f"`{name}` is not built as the question says: its layers differ from those of "
            "`SliceAwareClassifier(base_architecture=small_mlp(X_train.shape[1], hidden_dim=32, num_layers=1), "
            "head_dim=32, slice_names=[sf.name for sf in sfs], ...)`."
        )
    gap = 0.0
    for key, print_ in ours.items():
        mine = theirs[key]
        numbers = list(mine.get("sums") or []) + list(mine.get("samples") or [])
        wanted = print_["sums"] + print_["samples"]
        if len(numbers) != len(wanted):
            gap = math.inf
            break
        gap = max([gap, *(_differs(a, b) for a, b in zip(numbers, wanted, strict=True))])
    expect(
        gap <= 1e-6,
        f"The weights of `{name}` are not those the question's recipe trains. Did you call `seed_everything()` "
        "first, and train once, on the train loader only (X_train, y_train and S_train, batch_size=32, "
        "shuffle=True), with `Trainer(n_epochs=2, lr=1e-3)`? A model trained on other data, for another number "
        "of epochs, from another seed or twice has other weights: run the whole cell again from the top.",
    )


def reference_sliceaware_scores(reference: dict, y: np.ndarray, S: Any, *, name: str) -> pd.Series:
    """The F1 per slice ('overall' first) of the recipe's model on test, with the learner's slices ``S``."""
    S = _require_recarray(S, "S_test")
    expect(len(S) == len(y), f"`S_test` has {len(S)} rows, but `test` has {len(y)}.")
    return _slice_f1(S, y, reference["preds"], reference["probs"], name=name)


def check_sliceaware_table(table: Any, name: str, expected: pd.Series) -> None:
    """Check ``table`` is the model's ``score_slices([test_loader], as_dataframe=True)``: its F1 per slice."""
    scores = sliceaware_scores(table, name)
    for row in expected.index:
        value = scores.get(row) if row in scores.index else None
        expect(
            value is not None and _same_number(value, expected[row]),
            f"`{name}` gives {row!r} the F1 {show(_plain(value))}, which is not what scoring the model on the test "
            "loader gives. Did you call `score_slices([test_loader], as_dataframe=True)`, with the loader of "
            "`X_test`, `y_test` and `S_test`?",
        )


def check_comparison(
    comparison: Any,
    name: str,
    rows: Sequence[str],
    *,
    baseline_options: Sequence[pd.Series],
    slice_aware: pd.Series,
) -> None:
    """Check the learner's side-by-side table: columns ``baseline`` and ``slice_aware``, rows ``rows``.

    ``baseline`` must match one of ``baseline_options`` (e.g. the learner's own slice
    table or a recomputation), ``slice_aware`` the recomputed scores of the learner's model.
    """
    require_answer(comparison, name)
    if not isinstance(comparison, pd.DataFrame):
        raise CheckFailed(
            f"`{name}` is a {type(comparison).__name__}, not a DataFrame with the columns 'baseline' and 'slice_aware'."
        )
    expect(
        {"baseline", "slice_aware"} <= set(comparison.columns),
        f"`{name}` has the columns {list(comparison.columns)}; it needs 'baseline' and 'slice_aware'.",
    )
    expect(
        [str(row) for row in comparison.index] == list(rows),
        f"`{name}` has the rows {show(list(comparison.index))}. Use 'overall' and then the slices, "
        f"in the order of `sfs`: {list(rows)}.",
    )

    def matches(column: pd.Series, reference: pd.Series) -> bool:
        return all(row in reference.index and _same_number(column[row], reference[row]) for row in rows)

    expect(
        any(matches(comparison["baseline"], option) for option in baseline_options),
        f"Column 'baseline' of `{name}` is not the F1 column of your baseline slice table "
        f"(`slice_scores`). Copy that column.",
    )
    for row in rows:
        value = comparison.loc[row, "slice_aware"]
        expect(
            row in slice_aware.index and _same_number(value, slice_aware[row]),
            f"Row {row!r} of `{name}` gives the slice-aware model F1 = {show(_plain(value))}, which is not what "
            f"scoring the model on the test split gives. Did you score it on the test loader, and map "
            f"'task' to 'overall' and 'task_slice:<name>_pred' to '<name>'?",
        )


def check_improved_slices(improved: Any, name: str, comparison: pd.DataFrame, comparison_name: str) -> None:
    """Check ``improved`` lists the slices (not 'overall') where ``slice_aware`` beats ``baseline``."""
    require_answer(improved, name)
    expect(
        isinstance(comparison, pd.DataFrame) and {"baseline", "slice_aware"} <= set(comparison.columns),
        f"`{name}` is checked against `{comparison_name}`, which is not a table with the columns "
        f"'baseline' and 'slice_aware' yet.",
    )
    expect(
        isinstance(improved, list | tuple | set) and all(isinstance(item, str) for item in improved),
        f"`{name}` is {show(improved)}. It should be a list of slice names.",
    )
    table = comparison.drop("overall", errors="ignore")
    try:
        values = table[["slice_aware", "baseline"]].astype(float)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"`{name}` is checked against `{comparison_name}`, whose columns 'baseline' and 'slice_aware' "
            "do not hold one number per row."
        ) from None
    better = {
        str(row)
        for row, ahead, behind in zip(table.index, values.iloc[:, 0], values.iloc[:, 1], strict=True)
        if ahead > behind + TOLERANCE
    }
    missing = sorted(better - set(improved))
    extra = sorted(set(improved) - better)
    expect(
        not extra,
        f"`{name}` lists {extra}, where the slice-aware model does not score higher than the baseline "
        f"in `{comparison_name}`.",
    )
    expect(
        not missing,
        f"`{name}` leaves out {missing}, where `{comparison_name}` shows the slice-aware model ahead. "
        f"List every slice (not 'overall') where 'slice_aware' > 'baseline'.",
    )


# --- precision and recall of a learner's own slice --------------------------------------------------------


def precision_recall(
    sf: Any, name: str, cases: Iterable[tuple[Any, bool]], held_out_cases: Iterable[tuple[Any, bool]] = ()
) -> dict[str, Any]:
    """Precision and recall of ``sf`` against hand-labelled membership, with one example of each kind of miss.

    ``held_out_cases`` count like ``cases`` but are never quoted: the examples of misses come from
    ``cases`` only (None when none of those is missed). Precision is 0 when the SF selects nothing;
    every call goes through :func:`memberships` (contract: True/False, no mutation, no exception).
    """
    require_sf(sf, name)
    quoted = [(_as_point(point), bool(expected)) for point, expected in cases]
    hidden = [(_as_point(point), bool(expected)) for point, expected in held_out_cases]
    answers = memberships(sf, name, [point for point, _ in quoted])
    answers += memberships(sf, name, [point for point, _ in hidden], quote=False)
    tp = fp = fn = 0
    false_positive = false_negative = None
    for position, ((point, expected), answer) in enumerate(zip(quoted + hidden, answers, strict=True)):
        example = point["text"] if position < len(quoted) else None
        if answer and expected:
            tp += 1
        elif answer:
            fp += 1
            false_positive = false_positive if false_positive is not None else example
        elif expected:
            fn += 1
            false_negative = false_negative if false_negative is not None else example
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "selected": tp + fp,
        "false_positive": false_positive,
        "false_negative": false_negative,
    }


def band_points(value: float, bands: Sequence[tuple[float, float]]) -> float:
    """Points for ``value`` from ``bands`` = [(threshold, points), ...], best first (0 below every threshold)."""
    for threshold, points in sorted(bands, reverse=True):
        if value >= threshold:
            return float(points)
    return 0.0
