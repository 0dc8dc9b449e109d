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
    Credit,
    NotAnswered,
    call_safely,
    expect,
    is_stub,
    partial_credit,
    passed,
    quietly,
    require_answer,
    require_function,
    same,
    show,
    unchanged_after,
    unwrap,
)
from labeling_labs.constants import ABSTAIN, SPAM
from labeling_labs.data import make_point
from labeling_labs.seeding import seeded


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


# -- partial credit: one model for every assignment -----------------------------------------------------------


def test_credit_shares_the_points_by_weight_and_prints_one_line_per_part(capsys):
    credit = Credit(2)
    with credit.part("the table", 3):
        pass
    with credit.part("the name"):
        raise CheckFailed("`weakest_slice` is 'x'.")
    with credit.part("the table", 3):  # entered again, e.g. by the hidden block: the same part
        pass
    assert credit.score() == 1.5
    assert capsys.readouterr().out == (
        "- the table (1.5 of 1.5): passed.\n"
        "- the name (0 of 0.5): `weakest_slice` is 'x'.\n"
        "Score: 1.5 of 2 points.\n"
    )


def test_credit_keeps_a_parts_first_failure_and_awards_measured_parts(capsys):
    credit = Credit(4)
    with credit.part("a", 2):
        raise CheckFailed("first")
    with credit.part("a", 2):
        raise CheckFailed("second")
    credit.award("coverage", 1, 2, "91.0%.")
    assert credit.score() == 1.0
    assert (
        capsys.readouterr().out == "- a (0 of 2): first\n- coverage (1 of 2): 91.0%.\nScore: 1 of 4 points.\n"
    )


def test_credit_fails_the_cell_when_nothing_is_earned():
    blank = Credit(2)
    with blank.part("a"):
        raise NotAnswered("Not answered yet: `a`")
    with blank.part("b"):
        raise NotAnswered("Not answered yet: `b`")
    with pytest.raises(NotAnswered, match="`a`"):
        blank.score()

    wrong = Credit(2)
    with wrong.part("a"):
        raise NotAnswered("Not answered yet: `a`")
    with wrong.part("b"):
        raise CheckFailed("`b` is wrong.")
    with pytest.raises(CheckFailed) as failure:
        wrong.score()
    assert str(failure.value) == (
        "- a (0 of 1): Not answered yet: `a`\n- b (0 of 1): `b` is wrong.\nScore: 0 of 2 points."
    )
    assert Credit(2).score() is None  # no parts: no partial score


def test_a_credit_preview_prints_what_it_would_score_and_never_fails_the_cell(capsys):
    """A preview (lab 1's open task on dev) shows the lines a score shows, but scores nothing: the cell's
    value stays None and a preview that earns nothing does not raise."""
    measured = Credit(4)
    measured.award("dev coverage", 2, 2, "98.0%.")
    measured.award("dev accuracy", 1, 2, "86.0%.")
    assert measured.preview("On dev:") is None
    assert capsys.readouterr().out == (
        "On dev:\n- dev coverage (2 of 2): 98.0%.\n- dev accuracy (1 of 2): 86.0%.\nWould score: 3 of 4 points.\n"
    )
    nothing = Credit(4)
    with nothing.part("your LFs"):
        raise CheckFailed("`x` is right on 20% of the 10 dev comments it votes on.")
    assert nothing.preview("On dev:") is None
    assert capsys.readouterr().out.endswith(
        "20% of the 10 dev comments it votes on.\nWould score: 0 of 4 points.\n"
    )


def test_credit_turns_a_learners_exception_into_its_part_failing_and_lets_real_errors_through(capsys):
    from autograder.checks.remote import LearnerError

    credit = Credit(2)
    with credit.part("first"):
        pass
    with credit.part("second"):
        raise LearnerError("ZeroDivisionError", "division by zero")
    assert credit.score() == 1.0
    assert (
        "- second (0 of 1): Your code raised ZeroDivisionError: 'division by zero'" in capsys.readouterr().out
    )
    with pytest.raises(NameError), credit.part("third"):
        raise NameError("x")


# -- one equality, one data point, one seeding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1.0, True),
        (np.int64(5), 5, True),
        (True, 1, False),
        ("5", 5, False),
        (None, float("nan"), True),
        (float("nan"), float("nan"), True),
        (None, 0, False),
        (pd.Series([1, None], index=[3, 4]), pd.Series([1.0, float("nan")], index=[3, 4]), True),
        (pd.Series([1, 2], index=[3, 4]), pd.Series([1, 2], index=[4, 3]), False),
        (pd.Series([1]), [1], False),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan]), True),
        (np.array([1, 2]), np.array([1, 2, 3]), False),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), False),
    ],
)
def test_same_is_strict_about_kinds_and_lenient_about_missing_values(a, b, expected):
    assert same(a, b) is expected


def test_same_is_not_fooled_by_an_object_that_equals_everything():
    class Always:
        def __eq__(self, other):
            return np.array([True, True])

    assert same(Always(), 1) is False


def test_one_make_point_for_every_lab():
    point = make_point("Nice song")
    assert list(point.index) == ["author", "date", "text", "label", "video"] and point["label"] == 0
    assert "label" not in make_point("Nice song", label=None).index  # as an LF sees a comment when graded
    assert make_point("x", label=1, video=2)[["label", "video"]].tolist() == [1, 2]


def test_seeded_seeds_both_generators_and_puts_them_back():
    import random

    random.seed(7)
    np.random.seed(7)
    expected = random.random(), np.random.rand()
    random.seed(7)
    np.random.seed(7)
    with seeded(1):
        inside = random.random(), np.random.rand()
    with seeded(1):
        assert (random.random(), np.random.rand()) == inside
    assert (random.random(), np.random.rand()) == expected
