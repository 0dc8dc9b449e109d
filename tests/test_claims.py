"""The sentences the chapters generate say what their tables show.

labeling_labs.claims and the sentence builders of labeling_labs.slicing are held against real
tables: slice scores that snorkel's Scorer computes for two scikit-learn models on the real
comments, and accuracies of real models. Each sentence is parsed back and compared with the
table, value by value, at the precision the table shows.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from snorkel.analysis import Scorer
from snorkel.slicing import PandasSFApplier, slicing_function
from support.slices import regex_check_out, short_comment

from labeling_labs import SEED, load_spam_splits
from labeling_labs.claims import (
    change_phrase,
    comparative,
    compare,
    listing,
    points_apart,
    ranges_overlap,
    shown,
    tally,
    tally_phrase,
)
from labeling_labs.slicing import compare_on_slices, where_the_gain_comes_from


@slicing_function()
def short_link(x):
    return bool(re.search(r"\w+\.ly", x.text))


@slicing_function()
def mentions_song(x):
    return "song" in x.text.lower()


SFS = [short_comment, regex_check_out, short_link, mentions_song]


@pytest.fixture(scope="module")
def real_tables():
    """F1 per slice (and accuracy) of three real classifiers on the real test comments."""
    train, _, _, test = load_spam_splits(train_labels=True)
    S_test = PandasSFApplier(SFS).apply(test, progress_bar=False)
    golds = test["label"].to_numpy()
    scorer = Scorer(metrics=["f1"])
    f1, accuracy = {}, {}
    for name, (ngrams, C) in {
        "strong": ((1, 2), 1.0),
        "weak": ((1, 1), 0.001),
        "twin": ((1, 2), 1.0),
    }.items():
        vectorizer = CountVectorizer(ngram_range=ngrams)
        model = LogisticRegression(C=C, solver="liblinear", random_state=SEED)
        model.fit(vectorizer.fit_transform(train["text"]), train["label"])
        X_test = vectorizer.transform(test["text"])
        preds, probs = model.predict(X_test), model.predict_proba(X_test)
        scores = scorer.score_slices(S=S_test, golds=golds, preds=preds, probs=probs, as_dataframe=True)
        f1[name] = scores["f1"]
        accuracy[name] = float((preds == golds).mean())
    return pd.DataFrame(f1), accuracy


def parse_slice_sentence(sentence: str) -> dict[str, object]:
    """Read a compare_on_slices sentence back into {'overall': ..., 'above': [...], ...}."""
    result: dict[str, object] = {"above": [], "below": [], "same": None}
    overall = re.match(
        r"Overall it scores (above|below|the same as) the .+? \(([\d.]+)(?: against ([\d.]+))?\)", sentence
    )
    if overall:
        result["overall"] = (overall.group(1), overall.group(2), overall.group(3))
    if re.search(r"on (all \w+ slices|both slices|its one slice) the two score the same", sentence):
        result["same"] = "all"
        return result

    def names(text):
        return [name.strip() for name in re.split(r", | and ", text) if name.strip()]

    for side in ("above", "below"):
        found = re.search(
            rf"{side} (?:it|the [\w ]+?) on ([\w, ]+?)(?:,? and the same|, below| and below|\.|$)", sentence
        )
        if found:
            result[side] = names(found.group(1))
    same = re.search(r"the same on (the other \w+|the remaining one)", sentence)
    result["same"] = same.group(1) if same else None
    return result


def test_compare_on_slices_names_exactly_the_slices_the_table_shows_apart(real_tables):
    f1, _ = real_tables
    table = f1.round(3)  # what a reader sees
    slices = [name for name in table.index if name != "overall"]
    for model, other in [("strong", "weak"), ("weak", "strong"), ("strong", "twin")]:
        sentence = compare_on_slices(f1[model], f1[other], other, decimals=3)
        parsed = parse_slice_sentence(sentence)
        above = [s for s in slices if table.loc[s, model] > table.loc[s, other]]
        below = [s for s in slices if table.loc[s, model] < table.loc[s, other]]
        level = [s for s in slices if table.loc[s, model] == table.loc[s, other]]
        assert parsed["above"] == above, sentence
        assert parsed["below"] == below, sentence
        if len(level) == len(slices):
            assert parsed["same"] == "all", sentence
        elif level:
            assert parsed["same"] in {f"the other {w}" for w in ("two", "three", "four")} | {
                "the remaining one"
            }
        # The overall clause quotes the table's own numbers and their order.
        side, shown_a, shown_b = parsed["overall"]
        a, b = table.loc["overall", model], table.loc["overall", other]
        assert float(shown_a) == a
        assert side == ("above" if a > b else "below" if a < b else "the same as"), sentence
        if side != "the same as":
            assert float(shown_b) == b


def test_a_model_that_ties_every_slice_but_not_overall_is_not_called_equal():
    # The defect of the first version of the sentence: "It scores exactly as the plain MLP does on
    # every slice" under a table whose overall row differs.
    aware = pd.Series({"overall": 0.952, "short_comment": 0.714, "short_link": 0.5})
    plain = pd.Series({"overall": 0.938, "short_comment": 0.714, "short_link": 0.5})
    sentence = compare_on_slices(aware, plain, "plain MLP")
    assert sentence == (
        "Overall it scores above the plain MLP (0.952 against 0.938); on both slices the two score the same."
    )
    # Differences that the table's three decimals hide are ties; differences it shows are not.
    assert "the same" in compare_on_slices({"a": 0.71449}, {"a": 0.7141}, "x")
    assert "above" in compare_on_slices({"a": 0.7146}, {"a": 0.7141}, "x")


def test_where_the_gain_comes_from_agrees_with_the_table(real_tables):
    f1, _ = real_tables
    table = f1.round(3)
    slices = [name for name in table.index if name != "overall"]
    sentence = where_the_gain_comes_from(f1["strong"], f1["twin"], f1["weak"], decimals=3)
    gained = [s for s in slices if table.loc[s, "strong"] > table.loc[s, "weak"]]
    assert gained, "the real tables should show a gain somewhere"
    # The twin is the same model, so every gain is matched: the network, not the slices.
    assert sentence.startswith("On every slice where") or sentence.startswith(f"On {listing(gained)},")
    assert listing(gained) in sentence and "slices add" not in sentence
    against_weak = where_the_gain_comes_from(f1["strong"], f1["weak"], f1["weak"], decimals=3)
    assert "slices add something" in against_weak and "does as well" not in against_weak
    assert where_the_gain_comes_from(f1["weak"], f1["weak"], f1["weak"]) == (
        "The slice-aware model beats the baseline on none of the slices."
    )


def test_comparative_and_change_phrase_follow_the_shown_accuracies(real_tables):
    _, accuracy = real_tables
    high, low = sorted([accuracy["strong"], accuracy["weak"]], reverse=True)
    assert shown(high, 3) > shown(low, 3), "the two real models should differ at 0.1 %"
    assert compare(high, low, 3) == 1 and compare(low, high, 3) == -1
    assert comparative(high, low, 3) == "better than" and comparative(low, high, 3) == "worse than"
    assert comparative(accuracy["strong"], accuracy["twin"], 3) == "exactly as well as"
    phrase = change_phrase(low, high, decimals=3, than="the other model")
    points = round((shown(high, 3) - shown(low, 3)) * 100, 1)
    assert phrase == f"{points:g} percentage point{'' if points == 1 else 's'} lower than the other model"
    assert change_phrase(high, high, than="itself") == "the same as itself"
    assert change_phrase(0.874, 0.864) == "1 percentage point higher"
    assert points_apart(0.8641, 0.8559) == 0.8  # 86.4 % and 85.6 % as shown


@pytest.mark.parametrize(
    ("model", "other", "phrase"),
    [
        ([0.944, 0.938, 0.934], [0.928, 0.933, 0.942], "ahead in two and behind in one of the three runs"),
        ([0.714] * 3, [0.714] * 3, "tied in all three runs"),
        ([0.9, 0.8, 0.7], [0.8, 0.8, 0.8], "ahead in one, behind in one and tied in one of the three runs"),
        ([0.9], [0.8], "ahead in the only run"),
        ([0.71449, 0.5], [0.7141, 0.5], "tied in both runs"),
    ],
)
def test_tally_phrase_counts_what_the_table_shows(model, other, phrase):
    assert tally_phrase(tally(model, other, decimals=3), "runs") == phrase


def test_tally_keeps_keys_and_refuses_mismatched_inputs():
    counts = tally({"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.5}, decimals=3)
    assert counts == {"ahead": ["a"], "behind": [], "tied": ["b"]}
    with pytest.raises(ValueError, match="no value"):
        tally({"a": 1.0}, {"b": 1.0}, decimals=3)
    with pytest.raises(ValueError, match="2 values"):
        tally([1.0, 2.0], [1.0], decimals=3)
    with pytest.raises(ValueError, match="nothing was counted"):
        tally_phrase({"ahead": [], "behind": [], "tied": []}, "runs")


def test_ranges_overlap_as_shown():
    assert ranges_overlap([0.934, 0.944], [0.928, 0.942], decimals=3)
    assert not ranges_overlap([0.95, 0.96], [0.90, 0.94], decimals=3)
    assert ranges_overlap([0.9404], [0.9401], decimals=3)  # both shown as 0.940
    assert listing(["a"]) == "a" and listing(["a", "b", "c"]) == "a, b and c"
