"""Look at what transformation functions do before augmenting a whole data set.

:func:`preview_transformations` finds, for each transformation function (TF),
one data point that it actually changes and returns the original and the
transformed text side by side; :func:`style_preview` makes that table readable
on the course site. :func:`applicability` counts how often each TF changes a
data point at all, which explains why an augmented data set is smaller than
``n_per_original`` times the original.

TFs are usually random (which token to replace, which name to insert). Every
function here seeds Python's :mod:`random` and NumPy's global generator with
``seed`` before each TF, so the same call gives the same table, and puts both
generators back as they were afterwards, so a preview does not shift the
random numbers of the cells that follow it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from labeling_labs.constants import SEED
from labeling_labs.seeding import seeded

__all__ = ["applicability", "preview_transformations", "shorten_pair", "style_preview"]

#: Columns of the table that :func:`preview_transformations` returns, in order.
PREVIEW_COLUMNS = ("TF", "original", "transformed")


def _tf_name(tf) -> str:
    return str(getattr(tf, "name", getattr(tf, "__name__", repr(tf))))


def shorten_pair(original: str, transformed: str, max_chars: int = 160) -> tuple[str, str]:
    """Cut two versions of a text to at most ``max_chars`` characters each, keeping the change in view.

    The changed stretch runs from the first to the last character where the
    texts differ. When it does not fit in the first ``max_chars`` characters,
    both texts start at the same point a little before the change (at a word
    boundary when there is one nearby), marked by a leading "…"; a cut end is
    marked by a trailing "…". Both texts are cut at the same start, so they
    stay aligned for the reader.
    """
    if max_chars < 20:
        raise ValueError(f"max_chars must be at least 20, got {max_chars}")
    prefix = 0
    for a, b in zip(original, transformed, strict=False):
        if a != b:
            break
        prefix += 1
    suffix = 0
    limit = min(len(original), len(transformed)) - prefix
    while suffix < limit and original[-1 - suffix] == transformed[-1 - suffix]:
        suffix += 1
    change_end = max(len(original), len(transformed)) - suffix
    start = 0
    if change_end > max_chars - 1:
        context = max(0, (max_chars - 2 - (change_end - prefix)) // 2)
        start = max(0, prefix - max(context, 10))
        space = original.rfind(" ", 0, start + 1)
        if start and space != -1 and start - space < 20:
            start = space + 1

    def cut(text: str) -> str:
        budget = max_chars - (1 if start else 0)
        piece = text[start:]
        if len(piece) > budget:
            piece = piece[: budget - 1].rstrip() + "…"
        return ("…" if start else "") + piece

    return cut(original), cut(transformed)


def preview_transformations(
    tfs: Sequence,
    df: pd.DataFrame,
    seed: int = SEED,
    text_field: str = "text",
    max_chars: int = 160,
    distinct: bool = False,
    prefer_short: bool = False,
) -> pd.DataFrame:
    """One example per TF: the first data point (in a seeded order) whose text the TF changes.

    ``df`` is shuffled with ``random_state=seed``; each TF is called on the rows
    in that order (with :mod:`random` and NumPy seeded with ``seed``) until it
    returns a data point whose ``text_field`` differs from the original. A TF
    that changes no row does not appear in the table. Texts longer than
    ``max_chars`` are shortened around the change (see :func:`shorten_pair`).

    Two options pick examples that show each TF at work rather than the same comment five
    times: with ``distinct=True`` a row already shown for an earlier TF is skipped (unless no
    other row works), and with ``prefer_short=True`` rows whose text fits in ``max_chars`` are
    tried first, so that the example needs no cutting.

    Returns a DataFrame with the columns ``TF``, ``original`` and
    ``transformed``, indexed by the row id of the example, in the order of ``tfs``.
    ``df`` itself is not modified (snorkel TFs work on a copy of each row).
    """
    if len(df) == 0:
        raise ValueError("df is empty: there is nothing to transform")
    if text_field not in df.columns:
        raise ValueError(f"df has no column {text_field!r}; its columns are {list(df.columns)}")
    order = df.sample(frac=1, random_state=seed)
    fits = order[text_field].astype(str).str.len() <= max_chars
    records, index, used = [], [], set()
    for tf in tfs:
        pools = []
        if distinct and prefer_short:
            pools.append(fits & ~order.index.isin(used))
        if distinct:
            pools.append(~order.index.isin(used))
        if prefer_short:
            pools.append(fits)
        pools.append(pd.Series(True, index=order.index))
        for pool in pools:
            found = _first_change(tf, order[np.asarray(pool)], seed, text_field)
            if found is not None:
                break
        if found is None:
            continue
        row_id, before, after = found
        short_before, short_after = shorten_pair(before, after, max_chars)
        records.append((_tf_name(tf), short_before, short_after))
        index.append(row_id)
        used.add(row_id)
    table = pd.DataFrame.from_records(records, columns=list(PREVIEW_COLUMNS), index=index)
    table.index.name = df.index.name
    return table


def _first_change(tf, rows: pd.DataFrame, seed: int, text_field: str):
    """``(row_id, before, after)`` for the first of ``rows`` whose text ``tf`` changes, or None."""
    with seeded(seed):
        for row_id, x in rows.iterrows():
            result = tf(x)
            if result is None:
                continue
            before, after = str(x[text_field]), str(getattr(result, text_field))
            if after != before:
                return row_id, before, after
    return None


def style_preview(table: pd.DataFrame):
    """A :class:`pandas.io.formats.style.Styler` for a preview table that fits the page width.

    Texts wrap and are left-aligned; long TF names may break after an underscore;
    the index (row ids, which several TFs may share) is hidden.
    """
    return (
        table.reset_index(drop=True)  # Styler needs a unique index
        .style.hide(axis="index")
        .format(lambda name: html.escape(name).replace("_", "_<wbr>"), subset=["TF"])
        .format(html.escape, subset=["original", "transformed"])
        .set_properties(**{"text-align": "left", "vertical-align": "top", "white-space": "normal"})
        .set_properties(subset=["TF"], **{"font-family": "monospace", "width": "22%"})
        .set_properties(subset=["original", "transformed"], **{"width": "39%"})
        .set_table_styles(
            [
                {"selector": "", "props": [("font-size", "0.85em"), ("width", "100%")]},
                {"selector": "th", "props": [("text-align", "left")]},
            ]
        )
    )


def applicability(
    tfs: Sequence, df: pd.DataFrame, seed: int = SEED, text_field: str = "text"
) -> pd.DataFrame:
    """How many rows of ``df`` each TF changes when it is tried once on each row.

    Returns one row per TF (indexed by its name) with ``changed`` (the number of
    rows where the TF returned a data point with a different ``text_field``),
    ``returned_none`` (rows where it returned ``None``: it could not apply) and
    ``share`` (``changed`` divided by the number of rows). Random TFs are tried
    once per row with :mod:`random` and NumPy seeded with ``seed``, so a TF that
    picks a random word may fail on a row where another pick would succeed.
    """
    if len(df) == 0:
        raise ValueError("df is empty: there is nothing to transform")
    rows = []
    for tf in tfs:
        changed = returned_none = 0
        with seeded(seed):
            for _, x in df.iterrows():
                result = tf(x)
                if result is None:
                    returned_none += 1
                elif str(getattr(result, text_field)) != str(x[text_field]):
                    changed += 1
        rows.append((_tf_name(tf), changed, returned_none, changed / len(df)))
    return pd.DataFrame.from_records(rows, columns=["TF", "changed", "returned_none", "share"]).set_index(
        "TF"
    )
