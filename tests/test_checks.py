"""The learner-facing messages and verdicts of autograder.checks, pinned (messages are product)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction, labeling_function

from autograder.checks import (
    CheckFailed,
    NotAnswered,
    call_safely,
    expect,
    is_stub,
    partial_credit,
    passed,
    quietly,
    require_answer,
    require_function,
    show,
    unchanged_after,
    unwrap,
)
from labeling_labs.constants import ABSTAIN, SPAM


def stub(x):
    # YOUR CODE HERE
    ...


@labeling_function()
def stub_lf(x):
    # YOUR CODE HERE
    ...


@labeling_function()
def real_lf(x):
    return SPAM if "my" in x.text else ABSTAIN


def test_failures_are_assertion_errors_so_nbgrader_gives_no_credit():
    assert issubclass(CheckFailed, AssertionError) and issubclass(NotAnswered, AssertionError)


def test_is_stub_recognises_the_release_stubs_only():
    assert is_stub(...) and is_stub(stub) and is_stub(stub_lf)
    assert not is_stub(real_lf) and not is_stub(None) and not is_stub(0) and not is_stub(lambda x: ...)
    assert unwrap(real_lf) is real_lf._f and unwrap(len) is len


def test_require_answer_message():
    assert require_answer(3, "n") == 3
    with pytest.raises(NotAnswered) as info:
        require_answer(..., "coverage")
    assert (
        str(info.value)
        == "Not answered yet: `coverage` is still the placeholder. Write your answer in the cell above."
    )


def test_require_function_messages():
    assert require_function(real_lf, "real_lf", kind=LabelingFunction) is real_lf
    with pytest.raises(NotAnswered, match="^Not answered yet: `stub_lf`"):
        require_function(stub_lf, "stub_lf", kind=LabelingFunction)
    with pytest.raises(CheckFailed) as info:
        require_function(None, "make_lf", kind=LabelingFunction)
    assert str(info.value) == (
        "`make_lf` is a NoneType, not a LabelingFunction. Did you forget the decorator, or return the wrong object?"
    )
    with pytest.raises(CheckFailed) as info:
        require_function(42, "f")
    assert str(info.value) == "`f` is 42, which cannot be called. It should be a function."


def test_call_safely_names_the_exception_and_the_input():
    assert call_safely(len, "abc", name="len") == 3
    with pytest.raises(CheckFailed) as info:
        call_safely(lambda x: 1 / 0, 1, name="ratio", about="the comment ''")
    assert str(info.value) == "`ratio` raised ZeroDivisionError: 'division by zero' on the comment ''."
    with pytest.raises(NotAnswered):
        call_safely(lambda: require_answer(..., "x"), name="g")


def test_call_safely_keeps_stderr_and_warnings_quiet(capsys):
    def noisy():
        print("progress", file=sys.stderr)
        warnings.warn("deprecated", FutureWarning, stacklevel=1)
        return 1

    assert call_safely(noisy, name="noisy") == 1
    assert capsys.readouterr().err == ""


def test_expect_is_strict_about_booleans():
    expect(True, "never shown")
    expect(np.bool_(True), "never shown")
    with pytest.raises(CheckFailed, match="^the message$"):
        expect(False, "the message")

    class AlwaysEqual:
        def __eq__(self, other):
            return self

        def __repr__(self):
            return "AlwaysEqual()"

    with pytest.raises(CheckFailed) as info:
        expect(AlwaysEqual() == 3, "never shown")
    assert str(info.value) == "A check expected True or False and got AlwaysEqual() of type AlwaysEqual."


def test_unchanged_after_catches_mutation():
    point = pd.Series({"text": "Check My Channel", "video": 1})

    @labeling_function()
    def lowers(x):
        x.text = x.text.lower()
        return SPAM

    assert unchanged_after(real_lf, point.copy(), name="real_lf") == ABSTAIN
    with pytest.raises(CheckFailed) as info:
        unchanged_after(lowers, point.copy(), name="lowers")
    assert str(info.value) == (
        "`lowers` changed the data point it was given. Work on a copy instead, "
        "for example `x = x.copy()` or build a new point."
    )
    assert unchanged_after(lambda x: 1, pd.Series({"v": float("nan")}), name="nan") == 1


def test_show_truncates_and_survives_broken_repr():
    assert show("a" * 200).endswith("…") and len(show("a" * 200)) == 80

    class Broken:
        def __repr__(self):
            raise ValueError

    assert show(Broken()) == "<Broken whose repr raised ValueError>"


def test_quietly_swallows_stderr(capsys):
    with quietly():
        print("noise", file=sys.stderr)
    assert capsys.readouterr().err == ""


def test_passed_and_partial_credit_print_one_line_each(capsys):
    passed("coverage is the share of non-abstains.")
    assert capsys.readouterr().out == "Passed: coverage is the share of non-abstains.\n"
    assert partial_credit(3, 4, ["coverage: 2 of 2", "accuracy: 1 of 2"]) == 3.0
    assert capsys.readouterr().out == "- coverage: 2 of 2\n- accuracy: 1 of 2\nScore: 3 of 4 points.\n"
    assert partial_credit(7, 4) == 4.0 and partial_credit(-1, 4) == 0.0
