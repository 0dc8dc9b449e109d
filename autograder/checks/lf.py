"""Checks for labeling functions (assignment 1): contract, votes, label matrices and memorisation.

Logic only: the cases and thresholds live in the notebook's test cells. Every
learner function is called through :func:`autograder.checks.call_safely`, on
data points that have **no** ``label`` field (see :func:`make_point` and
:func:`without_labels`), so an LF cannot read the gold label it is graded on.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autograder.checks import (
    CheckFailed,
    call_each,
    call_each_of,
    call_safely,
    expect,
    held_out_split,
    require_function,
    show,
)
from autograder.checks.remote import kernel_side
from labeling_labs.constants import ABSTAIN, LABEL_NAMES
from labeling_labs.data import make_point

__all__ = [
    "apply_lfs_safely",
    "check_label_matrix",
    "check_name",
    "check_votes",
    "coverage_and_accuracy",
    "held_out_split",
    "make_point",
    "lookup_reasons",
    "OpenTask",
    "memorisation_reasons",
    "perturbed",
    "random_states",
    "require_lf",
    "vote",
    "without_labels",
]

#: Fields of a data point as the course's splits have them (``label`` deliberately absent).
POINT_FIELDS = ("author", "date", "text", "video")
#: Calls that mean an LF reads data instead of applying a rule.
DATA_READERS = {
    "open",
    "read_csv",
    "read_table",
    "read_json",
    "read_parquet",
    "read_excel",
    "load_spam_splits",
    "load_video",
    "loadtxt",
    "genfromtxt",
    "read_text",
    "read_bytes",
    "urlopen",
    "get",
}
#: More string literals than this, each at least LONG_LITERAL characters long, look like memorised comments.
MAX_LONG_LITERALS = 3
LONG_LITERAL = 30
#: A collection of more than this many strings (in the source, the resources or the globals) is a lookup table.
MAX_STRINGS = 25


def require_lf(lf: Any, name: str) -> Any:
    """Check that ``lf`` is answered and a snorkel ``LabelingFunction``."""
    from snorkel.labeling import LabelingFunction

    return require_function(lf, name, kind=LabelingFunction)


def without_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` without its ``label`` column: what LFs see when they are graded."""
    return frame.drop(columns=["label"], errors="ignore").copy()


def _as_vote(value: Any, name: str, about: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) not in LABEL_NAMES:
        raise CheckFailed(
            f"`{name}` returned {show(value)} for {about}. "
            "A labeling function returns one of ABSTAIN, HAM or SPAM (the ints -1, 0, 1)."
        )
    return int(value)


def vote(lf: Any, text_or_point: Any, name: str) -> int:
    """What ``lf`` returns for a comment (a text or a data point), checked to be ABSTAIN, HAM or SPAM."""
    point = make_point(text_or_point, label=None) if isinstance(text_or_point, str) else text_or_point
    about = f"the comment {show(point['text'], 60)}"
    return _as_vote(call_safely(lf, point, name=name, about=about), name, about)


def check_votes(lf: Any, cases: Iterable[tuple], name: str) -> int:
    """Check ``lf``'s vote on each case ``(text, expected)`` or ``(text, expected, why)``; return how many.

    The message names the comment and the learner's vote, and says why in general
    terms (``why``, e.g. "it contains 'channel' in capitals, and the keyword check
    should ignore case").
    """
    count = 0
    for case in cases:
        text, expected, *rest = case
        why = rest[0] if rest else None
        got = vote(lf, text, name)
        reason = why or f"this comment should get {LABEL_NAMES[expected]}"
        expect(got == expected, f"`{name}` returned {LABEL_NAMES[got]} for {show(text, 60)}, but {reason}.")
        count += 1
    return count


def check_name(lf: Any, expected: str, name: str) -> None:
    """Check the LF's ``name`` (what LFAnalysis shows): it should be ``expected``."""
    actual = getattr(lf, "name", None)
    expect(
        actual == expected,
        f"`{name}` is named {show(actual)}. Its name should be {expected!r}: "
        "LFAnalysis and the label model refer to an LF by its name.",
    )


def apply_lfs_safely(
    lfs: Sequence[Any], frame: pd.DataFrame, names: Sequence[str] | None = None
) -> np.ndarray:
    """The label matrix of ``lfs`` on ``frame`` without its labels, built with a message per failing call.

    Calls each LF on each row like ``PandasLFApplier`` does, but an exception or a
    vote other than ABSTAIN/HAM/SPAM becomes a :class:`CheckFailed` that names the
    LF and the comment.
    """
    points = [row for _, row in without_labels(frame).iterrows()]
    names = (
        list(names)
        if names is not None
        else [str(getattr(lf, "name", f"lfs[{j}]")) for j, lf in enumerate(lfs)]
    )
    matrix = np.full((len(points), len(lfs)), ABSTAIN, dtype=int)
    # every LF over the same comments, sent to the kernel once; failures reported LF by LF, as before
    table = call_each_of(list(lfs), points, names=names, about=_about_comment)
    for j, votes in enumerate(table):
        if isinstance(votes, CheckFailed):
            raise votes
        for i, (point, vote) in enumerate(zip(points, votes, strict=True)):
            matrix[i, j] = _as_vote(vote, names[j], _about_comment(point))
    return matrix


def _about_comment(point: Any) -> str:
    return f"the comment {show(point['text'], 60)}"


def check_label_matrix(L: Any, name: str, *, rows: int, columns: int) -> np.ndarray:
    """Check that ``L`` is a 2-D integer array of the given shape holding only ABSTAIN, HAM and SPAM."""
    expect(
        isinstance(L, np.ndarray),
        f"`{name}` is a {type(L).__name__}, not a NumPy array. "
        "PandasLFApplier's `apply` returns the label matrix as an array.",
    )
    expect(
        L.ndim == 2 and L.shape == (rows, columns),
        f"`{name}` has shape {L.shape}. A label matrix has one row per data point and one column per LF "
        f"(here {rows} x {columns}).",
    )
    expect(bool(np.issubdtype(L.dtype, np.integer)), f"`{name}` holds {L.dtype} values; labels are integers.")
    extra = sorted(set(np.unique(L).tolist()) - set(LABEL_NAMES))
    expect(
        not extra,
        f"`{name}` holds {show(extra)}; a label matrix holds only -1 (ABSTAIN), 0 (HAM) and 1 (SPAM).",
    )
    return L


def coverage_and_accuracy(votes: Any, gold: Any) -> tuple[float, float]:
    """Coverage (share of non-ABSTAIN votes) and accuracy on the covered points of a vote vector."""
    votes, gold = np.asarray(votes), np.asarray(gold)
    covered = votes != ABSTAIN
    coverage = float(covered.mean()) if len(votes) else 0.0
    accuracy = float((votes[covered] == gold[covered]).mean()) if covered.any() else 0.0
    return coverage, accuracy


# -- memorisation ----------------------------------------------------------------------------------


def _source_of(func: Any) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None


def _called_name(node: ast.Call) -> str | None:
    target = node.func
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _count_strings(value: Any) -> int:
    if isinstance(value, pd.DataFrame | pd.Series):
        return int(value.size)
    if isinstance(value, dict):
        return sum(isinstance(v, str) for v in value.keys()) + sum(isinstance(v, str) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return sum(isinstance(v, str) for v in value)
    return 0


@kernel_side
def memorisation_reasons(lf: Any, name: str) -> list[str]:
    """Why ``lf`` looks like it memorises comments rather than stating a rule (empty when it does not).

    Looks at the LF's source (``inspect.getsource`` of the function inside the
    LF, which works in notebooks), its ``resources`` and the globals and closure
    variables it uses: reading files or the course's data, many long string
    literals, or lookup tables of many strings.
    """
    from autograder.checks import unwrap

    func = unwrap(lf)
    reasons = []
    source = _source_of(func)
    if source is None:
        reasons.append(
            f"the source of `{name}` cannot be read, so it cannot be checked for memorised comments"
        )
    else:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = None
        if tree is not None:
            readers = sorted(
                {
                    n
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Call)
                    if (n := _called_name(node)) in DATA_READERS - {"get"}
                }
            )
            if readers:
                reasons.append(
                    f"`{name}` calls {', '.join(readers)}: an LF states a rule, it does not read data"
                )
            long_literals = [
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and len(node.value) >= LONG_LITERAL
                and not _is_docstring(tree, node)
            ]
            if len(long_literals) > MAX_LONG_LITERALS:
                reasons.append(
                    f"`{name}` holds {len(long_literals)} long string literals, "
                    f"such as {show(long_literals[0], 50)}: that is a list of comments, not a rule"
                )
            collections = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.List | ast.Set | ast.Tuple)
                and sum(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
                > MAX_STRINGS
            ]
            if collections:
                reasons.append(f"`{name}` holds a literal collection of more than {MAX_STRINGS} strings")
    resources = getattr(lf, "_resources", {}) or {}
    try:
        closure = inspect.getclosurevars(func)
        outside = {**closure.globals, **closure.nonlocals}
    except (TypeError, ValueError):
        outside = {}
    for where, values in (("a resource", resources), ("a variable defined outside it", outside)):
        for key, value in values.items():
            if inspect.ismodule(value) or callable(value):
                continue
            if _count_strings(value) > MAX_STRINGS:
                reasons.append(
                    f"`{name}` uses {key!r} ({where}), which holds more than "
                    f"{MAX_STRINGS} strings: a lookup table of comments, not a rule"
                )
    return reasons


def _is_docstring(tree: ast.AST, node: ast.Constant) -> bool:
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) and func.body:
            first = func.body[0]
            if isinstance(first, ast.Expr) and first.value is node:
                return True
    return False


# -- memorisation, judged by behaviour ---------------------------------------------------------------

#: Light edits that leave a comment's meaning, and any rule about its words, as it was: a filler word
#: appended, prepended, or put after the first word. A rule is touched by one of them at most (one that
#: looks at how a comment ends, starts, or at a phrase); an LF that looks comments up (by text, hash, a
#: prefix or normalised text) loses its votes under all of them.
FILLERS = ("append", "prepend", "after the first word")
#: An LF must keep at least this share of its votes under most of the edits to count as stating a rule.
MIN_KEPT_VOTES = 0.5
#: Fewer votes than this on held-out comments say too little to judge.
MIN_VOTES_TO_JUDGE = 5


def perturbed(text: str) -> list[str]:
    """Edited copies of ``text``, one per :data:`FILLERS`, that any rule about its content votes on as on ``text``."""
    words = text.split(" ", 1)
    middle = words[0] + " anyway " + words[1] if len(words) == 2 else text + " anyway"
    return [text + " Anyway.", "Anyway, " + text, middle]


def lookup_reasons(
    lf: Any, name: str, frame: pd.DataFrame | None = None, *, where: str = "held-out"
) -> list[str]:
    """Why ``lf`` behaves like a look-up of comments rather than a rule (empty when it does not).

    Runs the LF on the held-out comments (or ``frame``'s, ``where`` naming them) it votes on and on lightly
    edited copies of them (:func:`perturbed`); an LF that keeps fewer than :data:`MIN_KEPT_VOTES` of its votes under most of
    the edits (the median) is matching the comments themselves. Only votes are compared: no held-out
    text is quoted.
    """
    frame = held_out_split() if frame is None else frame
    points = [row for _, row in without_labels(frame).iterrows()]
    votes = call_each(lf, points, name=name, about=lambda p: f"a {where} comment")
    voted = [(point, vote) for point, vote in zip(points, votes, strict=True) if vote != ABSTAIN]
    if len(voted) < MIN_VOTES_TO_JUDGE:
        return []
    copies, expected = [], []
    for point, vote in voted:
        for text in perturbed(str(point["text"])):
            copy = point.copy()
            copy["text"] = text
            copies.append(copy)
            expected.append(vote)
    again = call_each(lf, copies, name=name, about=lambda p: f"an edited copy of a {where} comment")
    same = np.array([a == b for a, b in zip(again, expected, strict=True)]).reshape(len(voted), len(FILLERS))
    kept = sorted(same.mean(axis=0))[len(FILLERS) // 2]
    if kept < MIN_KEPT_VOTES:
        return [
            f"`{name}` keeps only {kept:.0%} of its votes when a filler word is added to {where} comments "
            "it votes on: it looks comments up instead of stating a rule"
        ]
    return []


@kernel_side
def random_states(model: Any) -> dict:
    """``{parameter: value}`` of every ``random_state`` among ``model``'s scikit-learn parameters (the
    steps of a pipeline included), read in the kernel where the model lives. A model without
    ``get_params`` (not scikit-learn's) has none to report: ``{}``. Values other than an int or
    ``None`` come back as their ``repr``."""
    try:
        params = model.get_params(deep=True)
    except Exception:
        return {}
    found = {}
    for key, value in params.items():
        if not (key == "random_state" or str(key).endswith("__random_state")):
            continue
        if isinstance(value, np.integer):
            value = int(value)
        plain = value is None or (isinstance(value, int) and not isinstance(value, bool))
        found[str(key)] = value if plain else repr(value)[:80]
    return found


# -- the open task (assignment 1, Question 12) ------------------------------------------------------


class OpenTask:
    """Question 12's measure of the learner's LFs ``mine``, the same on any labeled split: ``dev`` for the
    preview the learner sees, the held-out comments for the grade.

    The course's LFs and ``mine`` are applied to ``train`` and a label model is fitted there once, with the
    settings of Question 10. :meth:`credit` then grades on a labeled split, by the stated rules in order:
    an LF that memorises comments, or is right on at most half of the comments it votes on (when it votes
    on at least ``min_votes``), earns the task nothing; otherwise the label model's coverage and accuracy
    there earn points by ``bands`` (``{"coverage": (full, half), "accuracy": (full, half)}``, each half of
    the points). Messages name the LF and the split, never a comment.
    """

    def __init__(
        self,
        course_lfs: Sequence[Any],
        mine: Sequence[Any],
        train: pd.DataFrame,
        *,
        seed: int,
        bands: dict[str, tuple[float, float]],
        min_votes: int = 5,
    ) -> None:
        self.everyone = list(course_lfs) + list(mine)
        self.mine = list(mine)
        self.train, self.seed, self.bands, self.min_votes = train, seed, dict(bands), min_votes
        self._model: Any = None

    def label_model(self) -> Any:
        """The label model on ``train``, fitted at the first call."""
        if self._model is None:
            from snorkel.labeling.model import LabelModel

            from autograder.checks.core import quietly

            L_fit = apply_lfs_safely(self.everyone, self.train)
            with quietly():
                model = LabelModel(cardinality=2, verbose=False)
                model.fit(L_train=L_fit, n_epochs=500, log_freq=100, seed=self.seed, progress_bar=False)
            self._model = model
        return self._model

    def credit(self, labeled: pd.DataFrame, *, where: str, points: float = 4) -> Any:
        """The task's :class:`~autograder.checks.Credit` measured on ``labeled`` (named ``where``: "dev",
        "held-out")."""
        from autograder.checks import Credit
        from autograder.checks.core import quietly

        credit = Credit(points)
        names = [str(lf.name) for lf in self.mine]
        reasons = [
            reason
            for lf, name in zip(self.mine, names, strict=True)
            for reason in memorisation_reasons(lf, name) + lookup_reasons(lf, name, labeled, where=where)
        ]
        if reasons:
            note = " ".join(reasons + ["An LF that memorises comments earns nothing for this task."])
            credit.award("your LFs", 0, points, note)
            return credit
        gold = labeled["label"].to_numpy()
        L_labeled = apply_lfs_safely(self.everyone, labeled)
        L_mine = L_labeled[:, len(self.everyone) - len(self.mine) :]
        wrong_way = []
        for j, name in enumerate(names):
            voted = L_mine[:, j] != ABSTAIN
            right = float((L_mine[voted, j] == gold[voted]).mean()) if voted.any() else 1.0
            if voted.sum() >= self.min_votes and right <= 0.5:
                wrong_way.append(
                    f"`{name}` is right on {right:.0%} of the {int(voted.sum())} {where} comments it votes on: "
                    "no better than a coin. Check which label it returns."
                )
        if wrong_way:
            note = " ".join(
                wrong_way + ["An LF that is mostly wrong where it votes earns nothing for this task."]
            )
            credit.award("your LFs", 0, points, note)
            return credit
        with quietly():
            predictions = self.label_model().predict(L=L_labeled, tie_break_policy="abstain")
        measured = dict(zip(("coverage", "accuracy"), coverage_and_accuracy(predictions, gold), strict=True))
        share = points / len(self.bands)
        for what, (full, half) in self.bands.items():
            value = measured[what]
            earned = share if value >= full else share / 2 if value >= half else 0
            credit.award(f"{where} {what}", earned, share, f"{value:.1%}.")
        return credit
