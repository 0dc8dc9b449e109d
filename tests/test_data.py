"""The loader reproduces the original tutorials' split exactly, the same way from anywhere."""

import subprocess
import sys

import pandas as pd
import pytest

from labeling_labs import ABSTAIN, HAM, SPAM, load_spam_splits
from labeling_labs.constants import COLUMNS
from labeling_labs.data import load_video


@pytest.fixture(scope="module")
def hidden():
    return load_spam_splits()


@pytest.fixture(scope="module")
def labeled():
    return load_spam_splits(train_labels=True)


def test_split_sizes_and_class_counts(hidden, labeled):
    train, dev, valid, test = labeled
    assert (len(train), len(dev), len(valid), len(test)) == (1586, 100, 120, 250)
    assert train["label"].value_counts().to_dict() == {SPAM: 831, HAM: 755}
    assert dev["label"].value_counts().to_dict() == {SPAM: 54, HAM: 46}
    assert test["label"].value_counts().to_dict() == {HAM: 132, SPAM: 118}
    assert valid["label"].value_counts().to_dict() == {HAM: 64, SPAM: 56}


def test_train_labels_are_hidden_unless_asked_for(hidden, labeled):
    assert (hidden.train["label"] == ABSTAIN).all()
    assert hidden.train["label"].dtype == labeled.train["label"].dtype == "int64"
    pd.testing.assert_frame_equal(hidden.train.drop(columns="label"), labeled.train.drop(columns="label"))
    # dev keeps its gold labels either way, and they are the train rows' true labels
    pd.testing.assert_frame_equal(hidden.dev, labeled.dev)
    assert dev_is_labeled_subset(labeled.dev, labeled.train)


def dev_is_labeled_subset(dev, train):
    return dev.index.isin(train.index).all() and (train.loc[dev.index, "label"] == dev["label"]).all()


def test_columns_and_unique_traceable_index(labeled):
    every_row = pd.concat([labeled.train, labeled.valid, labeled.test])
    assert every_row.index.is_unique and every_row.index.name == "row_id"
    for split in labeled:
        assert tuple(split.columns) == COLUMNS
        assert split.index.is_unique
        assert ((split.index // 1000) == split["video"]).all()
    assert len(every_row) == 1956


def test_test_and_valid_are_disjoint_and_from_video_5_only(labeled):
    assert set(labeled.test["video"]) == set(labeled.valid["video"]) == {5}
    assert set(labeled.train["video"]) == {1, 2, 3, 4}
    assert not set(labeled.test.index) & set(labeled.valid.index)
    assert len(labeled.test) + len(labeled.valid) == len(load_video(5))


def test_rows_keep_their_source_text():
    psy = load_video(1)
    assert psy.loc[1000, "author"] and psy.loc[1000, "video"] == 1
    # The quirks the outline documents survive loading untouched.
    texts = pd.concat([load_video(v) for v in range(1, 6)])["text"]
    assert texts.str.endswith("\ufeff").sum() == 1548
    assert load_video(4)["date"].isna().sum() == 245


def test_the_tutorials_demo_numbers_hold(hidden):
    """The outline's coverage of the `check` LF (409 of 1586 rows) pins the split and the text."""
    text = hidden.train["text"].str.lower()
    assert text.str.contains("check").sum() == 409
    assert text.str.contains("check out").sum() == 340


SNAPSHOT = (
    "from labeling_labs import load_spam_splits;"
    "s = load_spam_splits(train_labels=True);"
    "print([list(map(int, split.index[:25])) + [int(split.label.sum())] for split in s])"
)


def test_deterministic_across_processes_and_working_directories(tmp_path):
    here = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, check=True)
    elsewhere = subprocess.run(
        [sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert here.stdout == elsewhere.stdout
    assert here.stdout.strip().startswith("[[")
