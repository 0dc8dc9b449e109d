"""Tests of the lab 2 helpers: the TF preview table and TF applicability counts.

The TFs are real snorkel transformation functions run on real training comments.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from snorkel.augmentation import transformation_function

from labeling_labs import SEED, load_spam_splits
from labeling_labs.preview import (
    PREVIEW_COLUMNS,
    applicability,
    preview_transformations,
    shorten_pair,
    style_preview,
)


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return load_spam_splits(train_labels=True).train


@transformation_function()
def check_to_see(x):
    """Deterministic: applies exactly to comments containing 'check'."""
    if "check" not in x.text:
        return None
    x.text = x.text.replace("check", "see", 1)
    return x


@transformation_function()
def swap_two_words(x):
    """Random: swaps two random words of a comment of at least 4 words."""
    words = x.text.split(" ")
    if len(words) < 4:
        return None
    i, j = random.sample(range(len(words)), 2)
    words[i], words[j] = words[j], words[i]
    x.text = " ".join(words)
    return x


@transformation_function()
def never_applies(x):
    return None


@transformation_function()
def identity(x):
    """Returns a data point, but never changes its text."""
    return x


@transformation_function()
def check_to_see_again(x):
    """The same logic as check_to_see, under another name."""
    return check_to_see(x)


TFS = [check_to_see, swap_two_words, never_applies, identity]


def test_preview_has_one_row_per_tf_that_changes_a_text(train):
    preview = preview_transformations(TFS, train, seed=SEED)
    assert list(preview.columns) == list(PREVIEW_COLUMNS)
    assert list(preview["TF"]) == ["check_to_see", "swap_two_words"]
    assert preview.index.name == train.index.name
    assert set(preview.index) <= set(train.index)


def test_preview_shows_a_real_change_of_the_row_it_names(train):
    preview = preview_transformations(TFS, train, seed=SEED, max_chars=1000)
    for row_id, row in preview.iterrows():
        assert row["original"] != row["transformed"]
        assert row["original"] == train.loc[row_id, "text"]
    check_row = preview[preview["TF"] == "check_to_see"].iloc[0]
    assert check_row["transformed"] == check_row["original"].replace("check", "see", 1)


def test_preview_takes_the_first_applicable_row_in_seeded_order(train):
    preview = preview_transformations([check_to_see], train, seed=SEED)
    order = train.sample(frac=1, random_state=SEED)
    first = order.index[order["text"].str.contains("check", regex=False)][0]
    assert preview.index[0] == first


def test_preview_can_give_each_tf_a_comment_of_its_own(train):
    # check_to_see and check_to_see_again apply to exactly the same comments: by default both
    # show the first one, with distinct=True the second TF moves on to the next.
    tfs = [check_to_see, check_to_see_again]
    shared = preview_transformations(tfs, train, seed=SEED)
    assert shared.index[0] == shared.index[1]
    own = preview_transformations(tfs, train, seed=SEED, distinct=True)
    assert own.index[0] == shared.index[0] and own.index[1] != own.index[0]
    order = train.sample(frac=1, random_state=SEED)
    with_check = order.index[order["text"].str.contains("check", regex=False)]
    assert list(own.index) == list(with_check[:2])


def test_preview_can_prefer_comments_short_enough_to_show_whole(train):
    preview = preview_transformations(TFS, train, seed=SEED, max_chars=60, prefer_short=True)
    for row_id, row in preview.iterrows():
        assert len(train.loc[row_id, "text"]) <= 60
        assert row["original"] == train.loc[row_id, "text"], "a short comment is shown uncut"
    # When no comment is short enough, a long one is still shown (cut around the change).
    (only,) = preview_transformations(
        [check_to_see], train[train["text"].str.len() > 200], seed=SEED, max_chars=60, prefer_short=True
    ).index
    assert len(train.loc[only, "text"]) > 200


def test_preview_is_deterministic_and_depends_on_the_seed(train):
    first = preview_transformations(TFS, train, seed=SEED)
    again = preview_transformations(TFS, train, seed=SEED)
    pd.testing.assert_frame_equal(first, again)
    others = [preview_transformations([swap_two_words], train, seed=seed) for seed in (1, 2, 3)]
    assert len({table.index[0] for table in others} | {first.index[1]}) > 1


def test_preview_leaves_data_and_global_random_state_alone(train):
    before = train.copy()
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.rand())
    random.seed(7)
    np.random.seed(7)
    preview_transformations(TFS, train, seed=SEED)
    applicability(TFS, train.head(50), seed=SEED)
    assert (random.random(), np.random.rand()) == expected
    pd.testing.assert_frame_equal(train, before)


def test_preview_rejects_bad_input(train):
    with pytest.raises(ValueError, match="empty"):
        preview_transformations(TFS, train.iloc[:0])
    with pytest.raises(ValueError, match="no column 'body'"):
        preview_transformations(TFS, train, text_field="body")


def test_preview_shortens_long_texts_around_the_change():
    original = " ".join(f"word{i}" for i in range(100))
    transformed = original.replace("word80", "WORD80")
    short_original, short_transformed = shorten_pair(original, transformed, max_chars=80)
    assert len(short_original) <= 80 and len(short_transformed) <= 80
    assert "word80" in short_original and "WORD80" in short_transformed
    assert short_original.startswith("…") and short_original.endswith("…")
    assert shorten_pair("a short text", "a short test") == ("a short text", "a short test")


def test_shorten_pair_keeps_both_ends_of_a_swap_in_view():
    words = [f"w{i:02d}" for i in range(60)]
    original = " ".join(words)
    words[30], words[40] = words[40], words[30]
    short_original, short_transformed = shorten_pair(original, " ".join(words), max_chars=100)
    assert "w30" in short_original and "w40" in short_original
    assert short_transformed.index("w40") < short_transformed.index("w30")


def test_style_preview_renders_html_even_when_tfs_share_a_row(train):
    preview = preview_transformations([check_to_see, identity, check_to_see_again], train, seed=SEED)
    assert list(preview["TF"]) == ["check_to_see", "check_to_see_again"]
    assert not preview.index.is_unique  # both TFs pick the same first row
    html = style_preview(preview).to_html()
    assert "<table" in html
    # long TF names may wrap after an underscore, so the table fits the page
    assert "check_<wbr>to_<wbr>see</td>" in html and "check_<wbr>to_<wbr>see_<wbr>again</td>" in html


def test_style_preview_shows_markup_in_comments_as_text():
    table = pd.DataFrame(
        {"TF": ["tf"], "original": ["nice<br />song & dance"], "transformed": ["<b>nice</b> song"]}
    )
    html = style_preview(table).to_html()
    assert "nice&lt;br /&gt;song &amp; dance" in html and "&lt;b&gt;nice&lt;/b&gt; song" in html
    assert "<br />" not in html and "<b>" not in html


def test_applicability_counts_match_a_direct_count(train):
    table = applicability(TFS, train, seed=SEED)
    assert list(table.index) == [tf.name for tf in TFS]
    n_check = int(train["text"].str.contains("check", regex=False).sum())
    assert table.loc["check_to_see", "changed"] == n_check
    assert table.loc["check_to_see", "returned_none"] == len(train) - n_check
    assert table.loc["check_to_see", "share"] == pytest.approx(n_check / len(train))
    assert table.loc["never_applies", "changed"] == 0
    assert table.loc["never_applies", "returned_none"] == len(train)
    assert table.loc["identity", "changed"] == 0 and table.loc["identity", "returned_none"] == 0
    n_long = int((train["text"].str.split(" ").str.len() >= 4).sum())
    assert 0 < table.loc["swap_two_words", "changed"] <= n_long
    pd.testing.assert_frame_equal(table, applicability(TFS, train, seed=SEED))
