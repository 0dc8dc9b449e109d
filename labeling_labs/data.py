"""Load the YouTube Spam Collection and split it exactly as the original Snorkel spam tutorials do.

The split, step by step (so that the numbers in the chapters match the tutorials):

1. Each of the five CSV files, in video order 1 to 5: lower-case the column
   names, drop ``comment_id``, add ``video``, rename ``class`` to ``label`` and
   ``content`` to ``text``, and shuffle with ``sample(frac=1, random_state=123)``.
2. ``train`` is videos 1 to 4 (1586 rows); its labels are hidden (set to
   ``ABSTAIN``) unless ``train_labels=True``.
3. ``dev`` is 100 rows sampled from train with ``random_state=123``, with gold labels.
4. Video 5 is split stratified by label with ``test_size=250, random_state=123``:
   ``test`` has 250 rows and ``valid`` the other 120.

Unlike the tutorials, every row keeps a unique index, ``row_id = 1000 * video + n``,
where ``n`` is the row's position in its CSV file, so a row can be traced back to
its source in every split.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from labeling_labs.constants import ABSTAIN, COLUMNS, HAM, SEED, TEST_VIDEO, VIDEO_FILES
from labeling_labs.resources import ResourceError, check_dataset_file, sha256_of

#: Sizes of the splits, for checks and prose.
TRAIN_SIZE, DEV_SIZE, VALID_SIZE, TEST_SIZE = 1586, 100, 120, 250


def make_point(text: str, label: int | None = HAM, **fields: Any) -> pd.Series:
    """A data point shaped like a row of the splits: the columns of :data:`COLUMNS`, in order.

    ``text`` and ``label`` are as given; the other columns hold a plausible comment's values
    (``author`` "A. Commenter", a ``date`` in May 2015, ``video`` 5), and ``fields`` overrides any of
    them. ``label=None`` leaves the label out, as a labeling function sees a comment when it is graded.

    >>> make_point("I love this song")["video"]
    5
    """
    values = {
        "author": "A. Commenter",
        "date": "2015-05-25T12:00:00",
        "text": text,
        "label": label,
        "video": 5,
    }
    values.update(fields)
    if values["label"] is None:
        del values["label"]
    ordered = [c for c in COLUMNS if c in values] + [c for c in values if c not in COLUMNS]
    return pd.Series({column: values[column] for column in ordered}, name=0)


@dataclass(frozen=True)
class SpamSplits:
    """The four splits. Unpacks in order: ``train, dev, valid, test = load_spam_splits()``.

    Every split has the columns ``author`` (str), ``date`` (ISO-8601 str, missing
    for some rows), ``text`` (str, the raw comment), ``label`` (``SPAM`` = 1,
    ``HAM`` = 0, or ``ABSTAIN`` = -1 where hidden) and ``video`` (1 to 5), and
    an integer index ``row_id`` that is unique across all splits.
    """

    train: pd.DataFrame
    dev: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def __iter__(self):
        return (getattr(self, field.name) for field in fields(self))


def load_video(video: int) -> pd.DataFrame:
    """One video's comments, verified and tidied, in the file's own order."""
    name = VIDEO_FILES[video - 1]
    path = check_dataset_file(name)
    frame = pd.read_csv(path, dtype={"CLASS": "int64"}, keep_default_na=False, na_values=[""])
    frame.columns = [column.lower() for column in frame.columns]
    frame = frame.drop(columns="comment_id").rename(columns={"class": "label", "content": "text"})
    frame["video"] = video
    frame["author"] = frame["author"].astype(str)
    frame.index = pd.RangeIndex(1000 * video, 1000 * video + len(frame), name="row_id")
    return frame[list(COLUMNS)]


def load_spam_splits(*, train_labels: bool = False) -> SpamSplits:
    """Load the data set and return the tutorials' ``train``, ``dev``, ``valid`` and ``test`` splits.

    ``train_labels=False`` (lab 1) hides the train labels: every one is ``ABSTAIN``.
    Raises :class:`labeling_labs.resources.ResourceError`, saying which command
    to run, when the data set has not been fetched or a file is damaged.
    """
    from sklearn.model_selection import train_test_split

    shuffled = [load_video(video).sample(frac=1, random_state=SEED) for video in range(1, 6)]
    train = pd.concat(shuffled[: TEST_VIDEO - 1])
    dev = train.sample(DEV_SIZE, random_state=SEED)
    if not train_labels:
        train = train.assign(label=ABSTAIN)
    held_out = shuffled[TEST_VIDEO - 1]
    valid, test = train_test_split(
        held_out, test_size=TEST_SIZE, random_state=SEED, stratify=held_out["label"]
    )
    return SpamSplits(train=train, dev=dev.copy(), valid=valid, test=test)


#: Columns a private held-out file has: those of the data set's own CSV files.
HELD_OUT_COLUMNS = ("COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS")
#: Rows of a private held-out file get indices from here on (the course's own rows are 1000 to 5999).
HELD_OUT_INDEX_START = 900_000


def load_held_out_file(path, sha256: str = "") -> pd.DataFrame:
    """A private labeled held-out set for graded terms, in the split's columns (``video`` is 0).

    The file has the data set's own columns (``COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS``, ``CLASS``
    1 for spam and 0 for ham). With ``sha256``, the file must have that checksum. Raises
    :class:`~labeling_labs.resources.ResourceError` saying what is wrong.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"the private held-out file {path} does not exist")
    if sha256 and sha256_of(path) != sha256.strip().lower():
        raise ResourceError(f"the private held-out file {path} does not have the SHA-256 it was given")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in HELD_OUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ResourceError(
            f"the private held-out file {path} lacks the column(s) {', '.join(missing)}; it needs "
            f"the data set's own columns {', '.join(HELD_OUT_COLUMNS)}"
        )
    labels = pd.to_numeric(frame["CLASS"], errors="coerce")
    if frame.empty or labels.isna().any() or not labels.isin([0, 1]).all():
        raise ResourceError(
            f"the private held-out file {path} needs at least one row, and CLASS 0 (ham) or 1 "
            "(spam) in every row"
        )
    held = pd.DataFrame(
        {
            "author": frame["AUTHOR"].astype(str),
            "date": frame["DATE"],
            "text": frame["CONTENT"].astype(str),
            "label": labels.astype("int64"),
            "video": 0,
        }
    )
    held.index = pd.RangeIndex(HELD_OUT_INDEX_START, HELD_OUT_INDEX_START + len(held), name="row_id")
    return held[list(COLUMNS)]
