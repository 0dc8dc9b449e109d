"""The messages and verdicts of autograder.checks.lf, pinned, with real snorkel LFs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction, labeling_function

from autograder.checks import CheckFailed, NotAnswered, held_out_split
from autograder.checks.lf import (
    apply_lfs_safely,
    check_label_matrix,
    check_name,
    check_votes,
    coverage_and_accuracy,
    memorisation_reasons,
    require_lf,
    vote,
    without_labels,
)
from labeling_labs.constants import ABSTAIN, HAM, SPAM


@labeling_function()
def keyword_please(x):
    return SPAM if "please" in x.text.lower() else ABSTAIN


@labeling_function()
def always_spam(x):
    return SPAM


@labeling_function()
def stub_lf(x): ...


@labeling_function()
def reads_label(x):
    return x.label


@labeling_function()
def returns_bool(x):
    return "please" in x.text


def test_require_lf_accepts_an_lf_and_names_the_stub_and_the_plain_function():
    assert require_lf(keyword_please, "keyword_please") is keyword_please
    with pytest.raises(NotAnswered, match=r"^Not answered yet: `stub_lf` is still the placeholder"):
        require_lf(stub_lf, "stub_lf")

    def plain(x):
        return SPAM

    with pytest.raises(CheckFailed) as info:
        require_lf(plain, "plain")
    assert str(info.value) == (
        "`plain` is a function, not a LabelingFunction. Did you forget the decorator, or return the wrong object?"
    )


def test_an_lf_graded_on_a_comment_never_sees_a_label():
    @labeling_function()
    def reads_the_label(x):
        return x.label

    with pytest.raises(CheckFailed, match="raised AttributeError"):
        vote(reads_the_label, "PLEASE subscribe", "reads_the_label")


def test_vote_and_its_messages():
    assert vote(keyword_please, "PLEASE subscribe", "keyword_please") == SPAM
    with pytest.raises(CheckFailed) as info:
        vote(returns_bool, "please", "returns_bool")
    assert str(info.value) == (
        "`returns_bool` returned True for the comment 'please'. "
        "A labeling function returns one of ABSTAIN, HAM or SPAM (the ints -1, 0, 1)."
    )
    with pytest.raises(CheckFailed) as info:
        vote(reads_label, "hi", "reads_label")
    assert (
        str(info.value)
        == "`reads_label` raised AttributeError: \"'Series' object has no attribute 'label'\" on the comment 'hi'."
    )


def test_check_votes_message_is_observation_then_reason():
    assert (
        check_votes(
            keyword_please, [("plz no", ABSTAIN), ("please", SPAM, "it says please")], "keyword_please"
        )
        == 2
    )
    with pytest.raises(CheckFailed) as info:
        check_votes(
            always_spam,
            [
                (
                    "I like this song",
                    ABSTAIN,
                    "it has no 'please', and an LF abstains when its keyword is absent",
                )
            ],
            "always_spam",
        )
    assert str(info.value) == (
        "`always_spam` returned SPAM for 'I like this song', but it has no 'please', and an LF abstains "
        "when its keyword is absent."
    )
    with pytest.raises(CheckFailed, match="but this comment should get HAM"):
        check_votes(always_spam, [("x", HAM)], "always_spam")


def test_check_name():
    check_name(keyword_please, "keyword_please", "keyword_please")
    with pytest.raises(CheckFailed) as info:
        check_name(always_spam, "keyword_please", "my_lf")
    assert str(info.value) == (
        "`my_lf` is named 'always_spam'. Its name should be 'keyword_please': "
        "LFAnalysis and the label model refer to an LF by its name."
    )


def test_apply_lfs_safely_matches_snorkel_and_hides_labels():
    from snorkel.labeling import PandasLFApplier

    frame = pd.DataFrame({"text": ["please", "song", "", "PLZ please"], "label": [1, 0, 0, 1]})
    L = apply_lfs_safely([keyword_please, always_spam], frame)
    assert (L == PandasLFApplier([keyword_please, always_spam]).apply(frame, progress_bar=False)).all()
    with pytest.raises(CheckFailed, match=r"^`reads_label` raised AttributeError"):
        apply_lfs_safely([reads_label], frame)
    assert "label" in frame.columns and "label" not in without_labels(frame).columns


def test_check_label_matrix_messages():
    good = np.array([[-1, 1], [0, -1]])
    assert check_label_matrix(good, "L", rows=2, columns=2) is good
    with pytest.raises(CheckFailed) as info:
        check_label_matrix([[1]], "L", rows=1, columns=1)
    assert (
        str(info.value)
        == "`L` is a list, not a NumPy array. PandasLFApplier's `apply` returns the label matrix as an array."
    )
    with pytest.raises(
        CheckFailed, match=r"^`L` has shape \(2, 2\)\. A label matrix has one row per data point"
    ):
        check_label_matrix(good, "L", rows=3, columns=2)
    with pytest.raises(CheckFailed, match=r"holds \[2\]; a label matrix holds only -1"):
        check_label_matrix(np.array([[2]]), "L", rows=1, columns=1)
    with pytest.raises(CheckFailed, match="holds float64 values"):
        check_label_matrix(np.array([[1.0]]), "L", rows=1, columns=1)


def test_coverage_and_accuracy():
    assert coverage_and_accuracy([SPAM, ABSTAIN, HAM, SPAM], [SPAM, HAM, SPAM, SPAM]) == (0.75, 2 / 3)
    assert coverage_and_accuracy([ABSTAIN], [SPAM]) == (0.0, 0.0)


TEXTS = [f"memorised comment number {i}, with enough words to be long" for i in range(40)]


@labeling_function()
def lookup_table(x):
    return SPAM if x.text in TEXTS else ABSTAIN


@labeling_function()
def reads_data(x):
    from labeling_labs import load_spam_splits

    return SPAM if x.text in set(load_spam_splits().test["text"]) else ABSTAIN


@labeling_function()
def long_literals(x):
    if x.text == "this is a long literal comment that somebody posted once":
        return SPAM
    if x.text == "and this is another long literal comment from the data":
        return SPAM
    if x.text == "a third long literal comment, copied from the data set":
        return HAM
    if x.text == "a fourth long literal comment, copied from the data set":
        return HAM
    return ABSTAIN


def _lookup(x, texts):
    return SPAM if x.text in texts else ABSTAIN


def test_memorisation_reasons_pass_rules_and_name_each_kind_of_memorising():
    assert memorisation_reasons(keyword_please, "keyword_please") == []
    assert memorisation_reasons(lookup_table, "lookup_table") == [
        "`lookup_table` uses 'TEXTS' (a variable defined outside it), which holds more than 25 strings: "
        "a lookup table of comments, not a rule"
    ]
    assert memorisation_reasons(reads_data, "reads_data") == [
        "`reads_data` calls load_spam_splits: an LF states a rule, it does not read data"
    ]
    reasons = memorisation_reasons(long_literals, "long_literals")
    assert len(reasons) == 1 and reasons[0].startswith(
        "`long_literals` holds 4 long string literals, such as"
    )
    resourced = LabelingFunction(name="resourced", f=_lookup, resources={"texts": TEXTS})
    assert memorisation_reasons(resourced, "resourced") == [
        "`resourced` uses 'texts' (a resource), which holds more than 25 strings: "
        "a lookup table of comments, not a rule"
    ]


def test_a_lookup_of_held_out_comments_is_caught_by_its_behaviour_a_rule_is_not():
    from autograder.checks.lf import lookup_reasons, perturbed

    held = held_out_split()
    spam = {" ".join(t.lower().split()) for t in held.loc[held["label"] == SPAM, "text"]}
    texts = set(held["text"])

    @labeling_function()
    def exact_lookup(x):
        return SPAM if x.text in texts else ABSTAIN

    @labeling_function()
    def normalised_lookup(x):
        return SPAM if " ".join(x.text.lower().split()) in spam else ABSTAIN

    @labeling_function()
    def mentions_check(x):
        return SPAM if "check" in x.text.lower() else ABSTAIN

    @labeling_function()
    def short(x):
        return HAM if len(x.text) < 30 else ABSTAIN

    assert lookup_reasons(mentions_check, "mentions_check", held) == []
    assert lookup_reasons(short, "short", held) == []
    for lf in (exact_lookup, normalised_lookup):
        (reason,) = lookup_reasons(lf, lf.name, held)
        assert reason.startswith(f"`{lf.name}` keeps only ") and "looks comments up" in reason
        assert not any(text in reason for text in texts)  # no held-out comment is quoted
    assert perturbed("Check it out") == [
        "Check it out Anyway.",
        "Anyway, Check it out",
        "Check anyway it out",
    ]

    @labeling_function()
    def question(x):
        return HAM if x.text.strip().endswith(("!", "?")) else ABSTAIN

    @labeling_function()
    def prefix_lookup(x):
        return SPAM if x.text[:25] in {t[:25] for t in texts} else ABSTAIN

    assert held["text"].str.strip().str.endswith(("!", "?")).sum() >= 5  # enough votes to judge
    assert lookup_reasons(question, "question", held) == []  # one edit touches it; the others do not
    assert lookup_reasons(prefix_lookup, "prefix_lookup", held) != []


def test_random_states_reads_every_seed_of_a_pipeline_and_nothing_of_other_models():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from autograder.checks.lf import random_states

    seeded = make_pipeline(CountVectorizer(), LogisticRegression(random_state=np.int64(123)))
    assert random_states(seeded) == {"logisticregression__random_state": 123}
    assert random_states(LogisticRegression()) == {"random_state": None}
    assert random_states(LogisticRegression(random_state=np.random.RandomState(1)))[
        "random_state"
    ].startswith("RandomState")
    assert random_states(object()) == {}


# -- the open task (Question 12) ---------------------------------------------------------------------

_Q12_WEAK = """
@labeling_function()
def free_word(x):
    return SPAM if "free" in x.text.lower() else ABSTAIN


@labeling_function()
def dot_com(x):
    return SPAM if ".com" in x.text.lower() else ABSTAIN


@labeling_function()
def nice_song(x):
    return HAM if "nice song" in x.text.lower() else ABSTAIN


my_lfs = [free_word, dot_com, nice_song]
"""


@pytest.fixture(scope="module")
def lab1_namespace():
    """The names lab 1's notebook has before Question 12: its set-up and the course's LFs, run here."""
    import nbformat
    from support.submissions import answer_cells, solution_path, strip_solution_markers

    nb = nbformat.read(solution_path("01-labeling-functions"), as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in {"setup", "course-lfs"}:
            exec(compile(cell.source, cell.metadata["nbgrader"]["grade_id"], "exec"), namespace)
    namespace["_answers"] = {"solution": strip_solution_markers(answer_cells(nb)["q12-open-lfs"].source)}
    return namespace


@pytest.mark.slow
def test_the_open_task_preview_on_dev_predicts_the_held_out_grade(lab1_namespace):
    """Question 12's preview measures on dev what the hidden tests measure on the held-out comments: for the
    solution, the alternatives and the wrong answers it gives the grade itself, and a weak answer is off by
    one band at most."""
    import linecache
    import runpy

    from test_alternatives import load_alternatives

    from autograder.checks.lf import OpenTask
    from labeling_labs import load_spam_splits

    answers = dict(lab1_namespace["_answers"])
    answers.update(
        {f"alternative {k}": v for k, v in load_alternatives("01-labeling-functions")["q12-open-lfs"].items()}
    )
    wrong = runpy.run_path("tests/fixtures/01-labeling-functions.py")["WRONG_ANSWERS"]
    answers.update(
        {
            f"wrong {k}": v["answers"]["q12-open-lfs"]
            for k, v in wrong.items()
            if "q12-open-lfs" in v["answers"]
        }
    )
    splits = load_spam_splits()
    bands = {"coverage": (0.95, 0.90), "accuracy": (0.88, 0.85)}
    seen = {}
    for name, source in [*answers.items(), ("weak", _Q12_WEAK)]:
        namespace = dict(lab1_namespace)
        filename = f"<q12 {name}>"  # as IPython does for a cell, so that the checks can read each LF's source
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
        mine = [
            lf for lf in namespace["my_lfs"] if lf.name not in {lf.name for lf in namespace["course_lfs"]}
        ]
        if len(mine) < 3:
            continue  # the visible check fails it before any measure
        task = OpenTask(namespace["course_lfs"], mine, splits.train, seed=namespace["SEED"], bands=bands)
        seen[name] = (
            _earned(task.credit(splits.dev, where="dev")),
            _earned(task.credit(held_out_split(), where="held-out")),
        )
    assert seen["solution"] == (4, 4), seen
    exact = {name: pair for name, pair in seen.items() if name != "weak"}
    assert all(dev == held for dev, held in exact.values()), seen
    assert {held for name, (_, held) in seen.items() if name.startswith("wrong")} == {0}, seen
    assert abs(seen["weak"][0] - seen["weak"][1]) <= 1 and seen["weak"][1] < 4, seen


def _earned(credit) -> float:
    earned, _ = credit._tally()
    return sum(earned.values())
