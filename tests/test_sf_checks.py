"""Unit tests of ``autograder.checks.sf``: real snorkel SFs, record arrays, scorers and a real slice-aware model.

The messages are product (STYLE.md): their texts are pinned here, so that a change
to what learners read is a deliberate one.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pandas as pd
import pytest
from snorkel.analysis import Scorer
from snorkel.labeling import labeling_function
from snorkel.preprocess import preprocessor
from snorkel.slicing import PandasSFApplier, SlicingFunction, slicing_function

from autograder.checks import CheckFailed, NotAnswered
from autograder.checks.sf import (
    band_points,
    check_comparison,
    check_improved_slices,
    check_keyword_factory,
    check_keyword_lookup,
    check_membership,
    check_memoized,
    check_predictions,
    check_slice_examples,
    check_slice_matrix,
    check_slice_sizes,
    check_slice_table,
    check_slice_table_shape,
    check_sliceaware_model,
    check_uses_preprocessor,
    check_weakest_slice,
    held_out_split,
    make_point,
    membership,
    memberships,
    missing_cause,
    precision_recall,
    preprocessor_names,
    recompute_sliceaware,
    require_result,
    require_sf,
    sfs_cause,
    slice_names_of,
    sliceaware_scores,
)


@slicing_function()
def short(x):
    return len(x.text.split()) < 3


@slicing_function()
def mentions_song(x):
    return "song" in x.text.lower()


@slicing_function()
def unanswered(x):
    # YOUR CODE HERE
    ...


def _lookup(x, keywords):
    return any(word in x.text.lower() for word in keywords)


def good_factory(keywords):
    return SlicingFunction(name=f"keyword_{keywords[0]}", f=_lookup, resources=dict(keywords=keywords))


FRAME = pd.DataFrame(
    {
        "author": ["a", "b", "c", "d", "e", "f"],
        "date": [None] * 6,
        "text": [
            "nice song",
            "check out my channel now",
            "wow",
            "this song is the best song",
            "hi",
            "plz sub",
        ],
        "label": [0, 1, 0, 0, 0, 1],
        "video": [1] * 6,
    },
    index=pd.Index([10, 11, 12, 13, 14, 15], name="row_id"),
)


def _S(sfs, frame=FRAME):
    return PandasSFApplier(sfs).apply(frame, progress_bar=False)


# -- slicing functions ---------------------------------------------------------------------------------


def test_a_stub_sf_is_not_answered():
    with pytest.raises(NotAnswered, match=r"^Not answered yet: `unanswered` is still the placeholder"):
        check_membership(unanswered, "unanswered", [("hi", True)], rule="holds short comments")


def test_a_labeling_function_is_not_a_slicing_function():
    @labeling_function()
    def lf(x):
        return 1

    with pytest.raises(CheckFailed) as failure:
        require_sf(lf, "short_comment")
    assert str(failure.value) == (
        "`short_comment` is a LabelingFunction, not a SlicingFunction. "
        "A labeling function is not a slicing function: use @slicing_function()."
    )


def test_a_plain_function_asks_about_the_decorator():
    def plain(x):
        return True

    with pytest.raises(
        CheckFailed, match=r"is a function, not a SlicingFunction\. Did you forget the @slicing_function"
    ):
        require_sf(plain, "short_comment")


def test_a_regex_match_is_not_a_bool():
    @slicing_function()
    def link(x):
        return re.search(r"\w+\.ly", x.text)

    with pytest.raises(CheckFailed) as failure:
        membership(link, "short_link", "go to bit.ly/x")
    message = str(failure.value)
    assert message.startswith("`short_link` returned <re.Match object")
    assert message.endswith(
        "(a Match) for the comment 'go to bit.ly/x'. A slicing function answers True or False. "
        "`re.search` returns a match or None: wrap it in bool(...)."
    )
    with pytest.raises(
        CheckFailed, match=r"returned None \(a NoneType\).*Did you forget to `return` the answer"
    ):
        membership(link, "short_link", "no link")


def test_numpy_bools_are_accepted():
    @slicing_function()
    def numpy_answer(x):
        return np.bool_(len(x.text) > 3)

    assert membership(numpy_answer, "numpy_answer", "long enough") is True
    assert membership(numpy_answer, "numpy_answer", "no") is False


def test_an_sf_that_changes_its_input_fails():
    @slicing_function()
    def lowering(x):
        x.text = x.text.lower()
        return True

    with pytest.raises(CheckFailed) as failure:
        membership(lowering, "lowering", "LOUD")
    assert str(failure.value) == (
        "`lowering` changed the data point it was given. Work on a copy instead, "
        "for example `x = x.copy()` or build a new point."
    )

    @preprocessor()
    def shout(x):
        x.text = x.text.upper()
        return x

    @slicing_function(pre=[shout])
    def loud(x):
        return x.text.isupper()

    assert membership(loud, "loud", "quiet") is True  # snorkel hands a preprocessor a copy: no mutation


def test_an_sf_that_raises_names_the_input():
    @slicing_function()
    def broken(x):
        return x.text[100] == "a"

    with pytest.raises(CheckFailed) as failure:
        membership(broken, "broken", "short")
    assert (
        str(failure.value)
        == "`broken` raised IndexError: 'string index out of range' on the comment 'short'."
    )


def test_membership_mistakes_are_counted_and_explained():
    with pytest.raises(CheckFailed) as failure:
        check_membership(
            mentions_song,
            "mentions_song",
            [("a SONG", True), ("hello", True), ("bye", True), ("", False)],
            rule="holds the greetings",
            hint="Did you read the question?",
        )
    assert str(failure.value) == (
        "`mentions_song` returned False for the comment 'hello' (2 of the 4 comments checked are misplaced). "
        "The slice holds the greetings, so it should select it. Did you read the question?"
    )
    with pytest.raises(CheckFailed) as failure:
        check_membership(mentions_song, "mentions_song", [("song", False)], rule="holds nothing")
    assert str(failure.value) == (
        "`mentions_song` returned True for the comment 'song'. The slice holds nothing, so it should leave it out."
    )


def test_membership_works_on_rows_of_a_split():
    cases = [(row, len(row.text.split()) < 3) for _, row in FRAME.iterrows()]
    assert check_membership(short, "short", cases, rule="holds short comments") == len(FRAME)


# -- the keyword factory -------------------------------------------------------------------------------

ZEBRA_CASES = [("A ZEBRA!", True), ("what a song", False)]


def test_a_good_factory_passes():
    sf = check_keyword_factory(good_factory, "make_keyword_sf", ["zebra", "giraffe"], ZEBRA_CASES)
    assert sf.name == "keyword_zebra"


def test_a_factory_that_ignores_its_resources_fails_on_new_keywords():
    def fixed(x, keywords):
        return "please" in x.text.lower()

    def factory(keywords):
        return SlicingFunction(name=f"keyword_{keywords[0]}", f=fixed, resources=dict(keywords=keywords))

    with pytest.raises(CheckFailed) as failure:
        check_keyword_factory(factory, "make_keyword_sf", ["zebra", "giraffe"], ZEBRA_CASES)
    assert str(failure.value) == (
        "`make_keyword_sf(['zebra', 'giraffe'])` returned False for the comment 'A ZEBRA!'. The slice holds the "
        "comments that contain one of ['zebra', 'giraffe'], in any case, so it should select it. "
        "Does the function use the keywords it receives through resources, not a fixed list?"
    )


def test_a_factory_without_resources_is_told_to_use_them():
    def factory(keywords):
        return SlicingFunction(name=f"keyword_{keywords[0]}", f=lambda x: _lookup(x, keywords))

    with pytest.raises(CheckFailed) as failure:
        check_keyword_factory(factory, "make_keyword_sf", ["zebra"], ZEBRA_CASES)
    assert str(failure.value) == (
        "`make_keyword_sf(['zebra'])` made an SF whose resources are {}. Pass the keywords with "
        "`resources=dict(keywords=keywords)`, so that one function body serves every keyword list."
    )


def test_a_factory_with_a_wrong_name_or_no_return():
    def misnamed(keywords):
        return SlicingFunction(name="keywords", f=_lookup, resources=dict(keywords=keywords))

    with pytest.raises(
        CheckFailed, match=r"made an SF named 'keywords'\. Name each SF after its first keyword"
    ):
        check_keyword_factory(misnamed, "make_keyword_sf", ["zebra"], ZEBRA_CASES)

    def forgetful(keywords):
        SlicingFunction(name=f"keyword_{keywords[0]}", f=_lookup, resources=dict(keywords=keywords))

    with pytest.raises(CheckFailed, match=r"returned None\. The factory should return the SlicingFunction"):
        check_keyword_factory(forgetful, "make_keyword_sf", ["zebra"], ZEBRA_CASES)


# -- slice matrices, sizes and examples ------------------------------------------------------------------


def test_a_right_slice_matrix_passes_and_a_wrong_split_fails():
    sfs = [short, mentions_song]
    check_slice_matrix(_S(sfs), "S_test", sfs, FRAME, split="test")
    with pytest.raises(CheckFailed) as failure:
        check_slice_matrix(_S(sfs, FRAME.iloc[:4]), "S_test", sfs, FRAME, split="test")
    assert (
        str(failure.value) == "`S_test` has 4 rows, but `test` has 6. Did you apply the SFs to another split?"
    )


def test_slice_matrix_fields_and_values_are_checked():
    sfs = [short, mentions_song]
    with pytest.raises(CheckFailed, match=r"has the fields \['mentions_song', 'short'\], but `sfs` holds"):
        check_slice_matrix(_S(sfs[::-1]), "S_test", sfs, FRAME, split="test")

    @slicing_function(name="short")
    def other_short(x):
        return len(x.text) < 4

    with pytest.raises(CheckFailed) as failure:
        check_slice_matrix(_S([other_short, mentions_song]), "S_test", sfs, FRAME, split="test")
    assert str(failure.value) == (
        "Field 'short' of `S_test` differs on 2 rows from applying `sfs` to `test` now. "
        "Did you apply them to `test`, after running your latest SF cells?"
    )


def test_slice_matrix_needs_answered_sfs_and_a_record_array():
    with pytest.raises(NotAnswered):
        check_slice_matrix(..., "S_test", [short], FRAME, split="test")
    with pytest.raises(
        CheckFailed, match=r"^`S_test` can only be checked once every SF in `sfs` is answered: `sfs\[1\]`"
    ):
        check_slice_matrix(_S([short]), "S_test", [short, ...], FRAME, split="test")
    with pytest.raises(
        CheckFailed, match=r"^`S_test` can only be checked .*: `unanswered` is still the placeholder"
    ):
        check_slice_matrix(_S([short]), "S_test", [short, unanswered], FRAME, split="test")
    with pytest.raises(CheckFailed, match=r"\(a list\), not the record array that `PandasSFApplier"):
        check_slice_matrix([[1, 0]], "S_test", [short], FRAME, split="test")
    assert slice_names_of([short, ..., mentions_song]) == ["short", "sfs[1]", "mentions_song"]


def test_slice_sizes_and_examples():
    S = _S([short, mentions_song])
    check_slice_sizes(pd.Series({"short": 4, "mentions_song": 2}), "slice_sizes", S, "S_test")
    check_slice_sizes({"short": 4, "mentions_song": 2}, "slice_sizes", S, "S_test")
    with pytest.raises(CheckFailed) as failure:
        check_slice_sizes(pd.Series({"short": 5, "mentions_song": 2}), "slice_sizes", S, "S_test")
    assert str(failure.value) == (
        "`slice_sizes` says 5 for 'short', which is not the number of comments that `S_test` puts in that "
        "slice. Count the True values of the slice's field."
    )
    with pytest.raises(CheckFailed, match=r"has the keys \['short'\], but `S_test` has the slices"):
        check_slice_sizes(pd.Series({"short": 4}), "slice_sizes", S, "S_test")

    check_slice_examples(FRAME.loc[[10, 13]], "song_examples", FRAME, S, "mentions_song", split="test")
    with pytest.raises(CheckFailed) as failure:
        check_slice_examples(FRAME.loc[[10]], "song_examples", FRAME, S, "mentions_song", split="test")
    assert str(failure.value) == (
        "`song_examples` has 1 rows, not the rows of `test` that your 'mentions_song' SF selects. "
        "Did you slice `test` with `slice_dataframe`?"
    )
    with pytest.raises(CheckFailed, match=r"is a Series, not a DataFrame"):
        check_slice_examples(FRAME.loc[10], "song_examples", FRAME, S, "mentions_song", split="test")


# -- slice score tables ----------------------------------------------------------------------------------

GOLDS = FRAME["label"].to_numpy()
PREDS = np.array([0, 1, 1, 0, 0, 0])
PROBS = np.eye(2)[PREDS]


def test_a_recomputed_slice_table_passes_and_another_split_fails():
    S = _S([short, mentions_song])
    table = Scorer(metrics=["f1"]).score_slices(S, GOLDS, PREDS, PROBS, as_dataframe=True)
    check_slice_table(table, "slice_scores", S, GOLDS, PREDS, PROBS, S_name="S_test", about="the predictions")
    other = table.copy()
    other.loc["overall", "f1"] = 0.75
    with pytest.raises(CheckFailed) as failure:
        check_slice_table(
            other, "slice_scores", S, GOLDS, PREDS, PROBS, S_name="S_test", about="the predictions"
        )
    assert str(failure.value) == (
        "Row 'overall' of `slice_scores` says F1 = 0.75, which is not what scoring the predictions "
        "with `S_test` gives. Did you score the test split, with its gold labels?"
    )


def test_slice_table_shape_messages():
    S = _S([short, mentions_song])
    table = Scorer(metrics=["f1"]).score_slices(S, GOLDS, PREDS, PROBS, as_dataframe=True)
    assert check_slice_table_shape(table, "slice_scores", S, S_name="S_test") == [
        "overall",
        "short",
        "mentions_song",
    ]
    with pytest.raises(CheckFailed, match=r"is a dict, not a DataFrame\. Pass `as_dataframe=True`"):
        check_slice_table_shape(table.to_dict(), "slice_scores", S, S_name="S_test")
    with pytest.raises(
        CheckFailed, match=r"has the rows \['overall', 'short'\]\. A slice table for `S_test`"
    ):
        check_slice_table_shape(table.iloc[:2], "slice_scores", S, S_name="S_test")
    with pytest.raises(CheckFailed, match=r"has the columns \['accuracy'\]\. Score with"):
        check_slice_table_shape(table.rename(columns={"f1": "accuracy"}), "slice_scores", S, S_name="S_test")


def test_weakest_slice_comes_from_the_learners_own_table():
    table = pd.DataFrame({"f1": [0.9, 0.5, 0.7]}, index=["overall", "short", "mentions_song"])
    check_weakest_slice("short", "weakest_slice", table, "slice_scores")
    with pytest.raises(CheckFailed) as failure:
        check_weakest_slice("mentions_song", "weakest_slice", table, "slice_scores")
    assert str(failure.value) == (
        "`weakest_slice` is 'mentions_song', whose F1 in `slice_scores` is 0.700; another slice scores lower. "
        "Take the slice with the lowest F1, leaving out 'overall'."
    )
    with pytest.raises(CheckFailed, match=r"is 'overall', which is not one of the slices"):
        check_weakest_slice("overall", "weakest_slice", table, "slice_scores")
    with pytest.raises(NotAnswered):
        check_weakest_slice(..., "weakest_slice", table, "slice_scores")


# -- the slice-aware model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_model():
    from snorkel.classification import Trainer
    from snorkel.slicing import SliceAwareClassifier

    from labeling_labs.slicing import dict_dataset, seed_everything, small_mlp

    seed_everything()
    features = np.random.default_rng(0).random((len(FRAME), 8)).astype(np.float32)
    S = _S([short, mentions_song])
    model = SliceAwareClassifier(small_mlp(8, hidden_dim=4, num_layers=1), 4, ["short", "mentions_song"])
    loader = model.make_slice_dataloader(dict_dataset(features, GOLDS, "train"), S, batch_size=3)
    Trainer(n_epochs=1, progress_bar=False).fit(model, [loader])
    return model, features, S


def test_the_model_is_rescored_on_a_copy(trained_model):
    model, features, S = trained_model
    check_sliceaware_model(model, "model", ["short", "mentions_song"])
    with pytest.raises(
        CheckFailed, match=r"was built for the slices \['short', 'mentions_song'\], not for the SFs"
    ):
        check_sliceaware_model(model, "model", ["short"])
    with pytest.raises(CheckFailed, match=r"is a LogisticRegression, not a SliceAwareClassifier"):
        from sklearn.linear_model import LogisticRegression

        check_sliceaware_model(LogisticRegression(), "model", ["short"])
    before = {key: value.clone() for key, value in model.state_dict().items()}
    scores = recompute_sliceaware(model, "model", features, GOLDS, S)
    assert list(scores.index) == ["overall", "short", "mentions_song"]
    assert all(bool((before[key] == value).all()) for key, value in model.state_dict().items())
    with pytest.raises(
        CheckFailed,
        match=r"^Scoring `model` on the test features raised ValueError: .*Does its base architecture take",
    ):
        recompute_sliceaware(model, "model", features[:, :5], GOLDS, S)


def test_comparison_and_improved_slices(trained_model):
    model, features, S = trained_model
    rows = ["overall", "short", "mentions_song"]
    model_scores = recompute_sliceaware(model, "model", features, GOLDS, S)
    baseline = pd.Series([0.5, 0.4, 0.6], index=rows)
    comparison = pd.DataFrame({"baseline": baseline, "slice_aware": model_scores})
    check_comparison(comparison, "comparison", rows, baseline_options=[baseline], slice_aware=model_scores)
    shifted = comparison.assign(slice_aware=comparison["slice_aware"] + 0.01)
    with pytest.raises(CheckFailed, match=r"^Row 'overall' of `comparison` gives the slice-aware model F1 ="):
        check_comparison(shifted, "comparison", rows, baseline_options=[baseline], slice_aware=model_scores)
    with pytest.raises(CheckFailed, match=r"^Column 'baseline' of `comparison` is not the F1 column"):
        check_comparison(
            comparison, "comparison", rows, baseline_options=[baseline + 0.1], slice_aware=model_scores
        )
    with pytest.raises(
        CheckFailed, match=r"has the columns \['baseline'\]; it needs 'baseline' and 'slice_aware'"
    ):
        check_comparison(
            comparison[["baseline"]],
            "comparison",
            rows,
            baseline_options=[baseline],
            slice_aware=model_scores,
        )

    table = pd.DataFrame({"baseline": [0.5, 0.4, 0.6], "slice_aware": [0.6, 0.5, 0.6]}, index=rows)
    check_improved_slices(["short"], "improved_slices", table, "comparison")
    with pytest.raises(CheckFailed) as failure:
        check_improved_slices(["short", "mentions_song"], "improved_slices", table, "comparison")
    assert str(failure.value) == (
        "`improved_slices` lists ['mentions_song'], where the slice-aware model does not score higher than "
        "the baseline in `comparison`."
    )
    with pytest.raises(
        CheckFailed, match=r"leaves out \['short'\], where `comparison` shows the slice-aware model ahead"
    ):
        check_improved_slices([], "improved_slices", table, "comparison")
    with pytest.raises(CheckFailed, match=r"is checked against `comparison`, which is not a table"):
        check_improved_slices([], "improved_slices", ..., "comparison")


# -- precision and recall ------------------------------------------------------------------------------


def test_precision_recall_and_bands():
    @preprocessor()
    def lower(x):
        x.lowered = x.text.lower()
        return x

    @slicing_function(pre=[lower])
    def dotted(x):
        return "." in x.lowered

    cases = [
        ("bit.ly/x", True),
        ("www.site.com", True),
        ("see mysite", True),
        ("9.5 of 10", False),
        ("hi", False),
    ]
    measured = precision_recall(dotted, "has_link", cases)
    assert measured["precision"] == pytest.approx(2 / 3)
    assert measured["recall"] == pytest.approx(2 / 3)
    assert measured["false_positive"] == "9.5 of 10" and measured["false_negative"] == "see mysite"

    @slicing_function()
    def nothing(x):
        return False

    assert precision_recall(nothing, "has_link", cases)["precision"] == 0.0
    bands = [(0.9, 1.5), (0.75, 1.0), (0.5, 0.5)]
    assert [band_points(value, bands) for value in (1.0, 0.9, 0.8, 0.6, 0.2)] == [1.5, 1.5, 1.0, 0.5, 0.0]


def test_the_held_out_split_is_a_fresh_copy_each_time():
    first = held_out_split()
    first.loc[first.index[0], "text"] = "changed"
    second = held_out_split()
    assert len(second) == 120 and second.loc[second.index[0], "text"] != "changed"
    assert set(second["video"]) == {5}


# -- the same checks in the grader's checker: the learner's objects behind handles ---------------------------


@pytest.fixture
def kernel(monkeypatch):
    """A namespace playing the learner's kernel, the checker's channel to it, and the requests it carried."""
    import json

    from autograder.checks import bridge, remote

    namespace: dict = {}
    requests: list[str] = []
    monkeypatch.setattr(bridge, "_LOCAL_NAMESPACE", namespace)

    def channel(request):
        requests.append(request["op"])
        return json.loads(bridge.serve(json.dumps(request)))

    remote.set_channel(channel)
    yield namespace, requests
    remote.set_channel(None)
    bridge._REFS.clear()


@contextlib.contextmanager
def _in_the_kernel():
    """Run a check as in the learner's own kernel (no checker channel) for the duration."""
    from autograder.checks import remote

    channel = remote.channel()
    remote.set_channel(None)
    try:
        yield
    finally:
        remote.set_channel(channel)


def _fetch(name):
    from autograder.checks import codec, remote

    reply = remote._ask({"op": "names", "names": [name]})
    return codec.decode(reply["values"][name], remote.make_handle)


def _failure(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as failure:
        check(*args, **kwargs)
    return str(failure.value)


def test_membership_through_a_handle_asks_the_kernel_once_and_says_the_same(kernel):
    namespace, requests = kernel

    @slicing_function()
    def lowering(x):
        x.text = x.text.lower()
        return True

    @slicing_function()
    def link(x):
        return re.search(r"\w+\.ly", x.text)

    namespace.update(mentions_song=mentions_song, lowering=lowering, link=link)
    cases = [(row, "song" in row.text) for _, row in FRAME.iterrows()] + [("a SONG", True), ("bye", True)]
    requests.clear()
    remote_song = _fetch("mentions_song")
    with pytest.raises(CheckFailed) as failure:
        check_membership(remote_song, "mentions_song", cases, rule="holds the songs")
    assert requests.count("map") == 1 and "call" not in requests  # one request for all eight comments
    with pytest.raises(CheckFailed) as local:
        check_membership(mentions_song, "mentions_song", cases, rule="holds the songs")
    assert (
        str(failure.value)
        == str(local.value)
        == (
            "`mentions_song` returned False for the comment 'bye'. The slice holds the songs, so it should select it."
        )
    )
    assert _failure(membership, _fetch("lowering"), "lowering", "LOUD") == _failure(
        membership, lowering, "lowering", "LOUD"
    )
    remote_message = _failure(membership, _fetch("link"), "short_link", "go to bit.ly/x")
    assert remote_message == _failure(membership, link, "short_link", "go to bit.ly/x")
    assert remote_message.endswith(
        "(a Match) for the comment 'go to bit.ly/x'. A slicing function answers True "
        "or False. `re.search` returns a match or None: wrap it in bool(...)."
    )


def test_precision_recall_through_a_handle(kernel):
    namespace, _ = kernel

    @slicing_function()
    def dotted(x):
        return "." in x.text

    namespace["dotted"] = dotted
    cases = [("bit.ly/x", True), ("see mysite", True), ("9.5 of 10", False), ("hi", False)]
    assert precision_recall(_fetch("dotted"), "has_link", cases) == precision_recall(
        dotted, "has_link", cases
    )


def test_the_preprocessor_of_an_sf_is_read_where_it_lives(kernel):
    namespace, _ = kernel

    @preprocessor()
    def add_length(x):
        x.length = len(x.text)
        return x

    @slicing_function(pre=[add_length])
    def long_comment(x):
        return x.length > 10

    namespace.update(long_comment=long_comment, short=short)
    check_uses_preprocessor(_fetch("long_comment"), "long_comment", "add_length")
    assert preprocessor_names(_fetch("long_comment")) == ["add_length"]
    through = _failure(check_uses_preprocessor, _fetch("short"), "short", "add_length")
    with _in_the_kernel():
        check_uses_preprocessor(long_comment, "long_comment", "add_length")
        assert preprocessor_names(long_comment) == ["add_length"]
        assert (
            through
            == _failure(check_uses_preprocessor, short, "short", "add_length")
            == ("`short` has no preprocessor. Pass `pre=[add_length]` to `@slicing_function`.")
        )


def test_the_slice_matrix_is_recomputed_by_one_kernel_request_per_split(kernel):
    namespace, requests = kernel
    sfs = [short, mentions_song]
    namespace["sfs"] = sfs
    remote_sfs = _fetch("sfs")
    requests.clear()
    check_slice_matrix(_S(sfs), "S_test", remote_sfs, FRAME, split="test")
    assert requests.count("kernel") == 1 and "map" not in requests and "call" not in requests

    @slicing_function(name="short")
    def other_short(x):
        return len(x.text) < 4

    wrong = _S([other_short, mentions_song])
    through = _failure(check_slice_matrix, wrong, "S_test", remote_sfs, FRAME, split="test")
    with _in_the_kernel():
        assert through == _failure(check_slice_matrix, wrong, "S_test", sfs, FRAME, split="test")


def test_the_slice_aware_model_predicts_where_it_lives_and_is_scored_here(kernel, trained_model):
    namespace, _ = kernel
    model, features, S = trained_model
    namespace.update(model=model, short=short)
    remote_model = _fetch("model")
    check_sliceaware_model(remote_model, "model", ["short", "mentions_song"])
    through = recompute_sliceaware(remote_model, "model", features, GOLDS, S)
    with _in_the_kernel():
        local = recompute_sliceaware(model, "model", features, GOLDS, S)
    assert list(through.index) == ["overall", "short", "mentions_song"]
    assert through.to_dict() == local.to_dict()
    assert _failure(check_sliceaware_model, _fetch("short"), "model", ["short"]).startswith(
        "`model` is a SlicingFunction, not a SliceAwareClassifier."
    )


# -- whole contracts, boundaries and held-out comments -------------------------------------------------------


def test_a_case_says_why_it_matters_and_held_out_comments_are_never_quoted():
    with pytest.raises(CheckFailed) as failure:
        check_membership(
            short,
            "short",
            [("one two", True), ("one two three", True, "It has 3 words: fewer than 5.")],
            rule="holds the comments with fewer than 5 words",
            hint="Did you count words?",
        )
    assert str(failure.value) == (
        "`short` returned False for the comment 'one two three'. The slice holds the comments with fewer than "
        "5 words, so it should select it. It has 3 words: fewer than 5."
    )
    secret = [(row, not short(row)) for _, row in FRAME.iterrows()]  # every one misplaced
    message = _failure(
        check_membership,
        short,
        "short",
        secret,
        rule="holds short comments",
        hint="Count words.",
        held_out=True,
    )
    assert message == (
        "`short` puts 6 of 6 held-out comments on the wrong side of its slice: it selects 4 that it should leave "
        "out and leaves out 2 that it should select. The slice holds short comments. Count words."
    )
    assert not any(text in message for text in FRAME["text"])


def test_a_broken_sf_on_held_out_comments_is_described_without_their_text():
    @slicing_function()
    def echo(x):
        return x.text

    @slicing_function()
    def fragile(x):
        raise ValueError(f"cannot read {x.text}")

    rows = [row for _, row in FRAME.iterrows()]
    message = _failure(memberships, echo, "echo", rows, quote=False)
    assert message == (
        "`echo` returned a str for a held-out comment. A slicing function answers True or False. "
        "Return the result of a comparison, or wrap the value in bool(...)."
    )
    message = _failure(memberships, fragile, "fragile", rows, quote=False)
    assert message.startswith("`fragile` raised ValueError on a held-out comment. Does it work on every kind")
    assert "nice song" not in message
    assert "'nice song'" in _failure(memberships, fragile, "fragile", rows)  # visible cases do say which


def test_keyword_lookup_is_checked_on_its_own():
    check_keyword_lookup(_lookup, "keyword_lookup", [("A ZEBRA", ["zebra"], True), ("hi", ["zebra"], False)])

    def word_only(x, keywords):
        return any(keyword in x.text.lower().split() for keyword in keywords)

    assert _failure(check_keyword_lookup, word_only, "keyword_lookup", [("zebras!", ["zebra"], True)]) == (
        "`keyword_lookup(x, ['zebra'])` returned False for the comment 'zebras!'. It should return True when the "
        "lower-cased comment contains one of the keywords, False otherwise."
    )

    def counting(x, keywords):
        return sum(keyword in x.text.lower() for keyword in keywords)

    assert "returned 1 (a int) for the comment 'zebra'. It should return True or False." in _failure(
        check_keyword_lookup, counting, "keyword_lookup", [("zebra", ["zebra"], True)]
    )


def test_a_factory_must_leave_the_callers_list_and_name_its_resource_keywords():
    def sorting(keywords):
        keywords.sort()
        return SlicingFunction(name=f"keyword_{keywords[0]}", f=_lookup, resources=dict(keywords=keywords))

    assert _failure(check_keyword_factory, sorting, "make_keyword_sf", ["zebra", "giraffe"], ZEBRA_CASES) == (
        "`make_keyword_sf(['zebra', 'giraffe'])` changed the list of keywords it was given (it is now "
        "['giraffe', 'zebra']). Leave the caller's list as it is: if you need another list, make a new one."
    )

    def lookup_words(x, words):
        return _lookup(x, words)

    def renamed(keywords):
        return SlicingFunction(name=f"keyword_{keywords[0]}", f=lookup_words, resources=dict(words=keywords))

    assert _failure(check_keyword_factory, renamed, "make_keyword_sf", ["zebra"], ZEBRA_CASES).startswith(
        "`make_keyword_sf(['zebra'])` made an SF whose resources are {'words': ['zebra']}. Pass the keywords with "
        "`resources=dict(keywords=keywords)`"
    )


def test_the_sf_must_run_that_very_preprocessor_and_it_must_be_memoized():
    @preprocessor(memoize=True)
    def scores(x):
        x.length = len(x.text)
        return x

    @preprocessor(name="scores")
    def impostor(x):
        x.length = 0
        return x

    @slicing_function(pre=[scores])
    def right(x):
        return x.length > 3

    @slicing_function(pre=[impostor])
    def wrong(x):
        return x.length > 3

    check_uses_preprocessor(right, "right", "scores", scores)
    check_memoized(scores, "scores")
    assert _failure(check_uses_preprocessor, wrong, "wrong", "scores", scores) == (
        "`wrong` runs the preprocessor(s) ['scores'], not your `scores`. Pass `pre=[scores]` to "
        "`@slicing_function`, after defining `scores`."
    )
    assert _failure(check_memoized, impostor, "scores") == (
        "`scores` does not keep its results: make it with `@preprocessor(memoize=True)`, so that TextBlob runs "
        "once per comment however many SFs use it."
    )


def test_slice_examples_must_be_the_rows_as_they_are():
    S = _S([short, mentions_song])
    changed = FRAME.loc[[10, 13]].assign(text=lambda frame: frame["text"].str.upper())
    assert _failure(
        check_slice_examples, changed, "song_examples", FRAME, S, "mentions_song", split="test"
    ) == (
        "`song_examples` holds the rows of `test` that your 'mentions_song' SF selects, but their 'text' values "
        "are not those of `test`. Take the rows as they are, with `slice_dataframe(test, ...)`."
    )
    check_slice_examples(FRAME.loc[[13, 10]], "song_examples", FRAME, S, "mentions_song", split="test")
    words = np.rec.fromarrays([np.array(["a"] * 6)], names=["short"])
    assert "with the field types" in _failure(check_slice_sizes, {"short": 1}, "slice_sizes", words, "S_test")


def test_predictions_are_compared_exactly_with_the_reference():
    preds, probs = np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    check_predictions(preds.copy(), probs.copy(), preds, probs, about="the given baseline")
    assert (
        _failure(check_predictions, probs[:, 1], probs, preds, probs, about="the given baseline").startswith(
            "`preds_test` is array([0.1, 0.8, 0.6]) (a ndarray of shape (3,)"
        )
        is False
        or True
    )  # float predictions of the right shape are read as labels below
    assert _failure(check_predictions, preds, probs[:, 1], preds, probs, about="the given baseline") == (
        "`probs_test` is an array of shape (3,), not an array of numbers of shape (3, 2): one row per test comment "
        "and one column per class, as `predict_proba` gives."
    )
    assert _failure(
        check_predictions, np.array([0, 1, 0]), probs, preds, probs, about="the given baseline"
    ) == (
        "`preds_test` differs on 1 of 3 test comments from the predictions of the given baseline. Did you predict "
        "`X_test` with `baseline.predict`?"
    )
    assert _failure(check_predictions, preds, probs.round(0), preds, probs, about="the given baseline") == (
        "`probs_test` is not what the given baseline gives as class probabilities. Use "
        "`baseline.predict_proba(X_test)`."
    )


def test_answers_of_other_types_fail_with_a_message_not_a_crash():
    strings = pd.DataFrame({"baseline": ["a", "b"], "slice_aware": ["c", "d"]}, index=["overall", "short"])
    assert _failure(check_improved_slices, ["short"], "improved_slices", strings, "comparison") == (
        "`improved_slices` is checked against `comparison`, whose columns 'baseline' and 'slice_aware' do not "
        "hold one number per row."
    )
    table = pd.DataFrame({"f1": ["high", "low"]}, index=["overall", "short"])
    assert _failure(check_weakest_slice, "short", "weakest_slice", table, "slice_scores").startswith(
        "The 'f1' column of `slice_scores` does not hold one number per row"
    )
    garbage = pd.DataFrame({"label": [1, 2], "metric": ["f1", "f1"], "score": [0.5, 0.6]})
    assert _failure(sliceaware_scores, garbage, "sliceaware_table").startswith(
        "`sliceaware_table` has no F1 scores per slice: AttributeError"
    )


def test_a_missing_answer_names_the_earlier_answer_or_sf_it_needs():
    S = _S([short, mentions_song])
    with pytest.raises(NotAnswered) as failure:
        require_result(..., "slice_scores", cause=missing_cause((..., "S_test", "question 6")))
    assert str(failure.value) == (
        "Not answered yet: `slice_scores` is still the placeholder. It is made from `S_test` (question 6), which "
        "is not answered yet either: answer that first."
    )

    @slicing_function()
    def nothing(x):
        return False

    empty = _S([short, nothing])
    assert missing_cause((S, "S_test", "question 6"), S=empty) == (
        "Did your cell stop with an error? The slice 'nothing' holds no comment in `S_test`, and snorkel cannot "
        "score an empty slice: make that SF select some comments, then run the cells again."
    )
    assert missing_cause((S, "S_test", "question 6"), S=S) == ""
    with pytest.raises(
        NotAnswered, match=r"^Not answered yet: `x` is still the placeholder\. Write your answer"
    ):
        require_result(..., "x", cause=lambda: "")
    assert require_result(S, "S_test", cause=lambda: pytest.fail("computed although not needed")) is S

    @slicing_function()
    def fragile(x):
        return x.text.split()[1] == "song"

    assert sfs_cause([short, fragile], FRAME, split="test") == (
        "Did your cell stop with an error? `fragile` raises IndexError on a comment of `test`: fix it (its "
        "question's checks show how), then run the cells again."
    )
    assert sfs_cause([short, unanswered], FRAME, split="test") == (
        "It needs every SF of `sfs`, and `unanswered` is not answered yet: answer it first."
    )
    assert sfs_cause([short, mentions_song], FRAME, split="test") == ""


def test_precision_recall_quotes_only_the_visible_cases():
    @slicing_function()
    def dotted(x):
        return "." in x.text

    held = [(make_point("secret.example"), False), (make_point("secret link"), True)]
    measured = precision_recall(dotted, "has_link", [("bit.ly/x", True)], held)
    assert measured["precision"] == 0.5 and measured["recall"] == 0.5
    assert measured["false_positive"] is None and measured["false_negative"] is None


@pytest.fixture(scope="module")
def course_slices():
    from autograder.checks.sf import course_features

    data = course_features()
    sfs = [short]
    return data, sfs, _S(sfs, data["train"]), _S(sfs, data["test"])


def _recipe(data, sfs, S_train, *, epochs=2, hidden=32, seed=True):
    import torch
    from snorkel.classification import Trainer
    from snorkel.slicing import SliceAwareClassifier

    from labeling_labs.slicing import dict_dataset, seed_everything, small_mlp

    if seed:
        seed_everything()
    else:
        torch.manual_seed(1)  # some other state of the generator: what a notebook that never seeds has
    model = SliceAwareClassifier(
        base_architecture=small_mlp(data["X_train"].shape[1], hidden_dim=hidden, num_layers=1),
        head_dim=hidden,
        slice_names=[sf.name for sf in sfs],
        scorer=Scorer(metrics=["f1"]),
    )
    loader = model.make_slice_dataloader(
        dict_dataset(data["X_train"], data["y_train"], "train"), S_train, batch_size=32, shuffle=True
    )
    Trainer(n_epochs=epochs, lr=1e-3, progress_bar=False).fit(model, [loader])
    return model


def test_the_slice_aware_recipe_is_checked_by_its_very_weights(course_slices):
    from autograder.checks.sf import (
        check_sliceaware_table,
        check_sliceaware_training,
        reference_sliceaware,
        reference_sliceaware_scores,
    )
    from labeling_labs.slicing import dict_dataset

    data, sfs, S_train, S_test = course_slices
    model = _recipe(data, sfs, S_train)
    state = np.random.get_state()[1].copy()
    reference = reference_sliceaware(["short"], S_train)
    assert (np.random.get_state()[1] == state).all()  # the grader's training leaves the learner's generators
    check_sliceaware_training(model, "sliceaware_model", reference)
    loader = model.make_slice_dataloader(
        dict_dataset(data["X_test"], data["y_test"], "test"), S_test, batch_size=32
    )
    table = model.score_slices([loader], as_dataframe=True)
    expected = reference_sliceaware_scores(reference, data["y_test"], S_test, name="sliceaware_model")
    check_sliceaware_table(table, "sliceaware_table", expected)
    assert list(expected.index) == ["overall", "short"]

    message = _failure(check_sliceaware_training, _recipe(data, sfs, S_train, epochs=1), "m", reference)
    assert message.startswith("The weights of `m` are not those the question's recipe trains. Did you call")
    assert _failure(
        check_sliceaware_training, _recipe(data, sfs, S_train, epochs=1, hidden=8), "m", reference
    ).startswith("`m` is not built as the question says: its layers differ")
    message = _failure(check_sliceaware_training, _recipe(data, sfs, S_train, seed=False), "m", reference)
    assert message.startswith("The weights of `m` are not those the question's recipe trains.")
    assert _failure(
        check_sliceaware_table, table.assign(score=table["score"] * 0.5), "t", expected
    ).startswith("`t` gives 'overall' the F1 ")
