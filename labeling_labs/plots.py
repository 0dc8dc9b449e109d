"""Plots for the course's chapters and exercises, drawn the same way everywhere.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot:
nothing is left open in pyplot's global state, and a notebook shows the figure
exactly once, when it is the value of the cell. For crisp figures in a notebook,
run ``%config InlineBackend.figure_formats = ["svg"]`` once.

Shared helpers come first (:data:`COLORS`, :func:`new_figure`, :func:`finish`);
each lab's plotting functions follow, in lab order.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from labeling_labs.constants import ABSTAIN, HAM, SPAM

# --------------------------------------------------------------------------- shared style

#: One colour per meaning, used by every plot of the course (colour-blind-safe palette).
COLORS = {
    SPAM: "#d55e00",  # vermilion
    HAM: "#0072b2",  # blue
    ABSTAIN: "#999999",  # grey
    "coverage": "#0072b2",
    "overlaps": "#e69f00",
    "conflicts": "#d55e00",
    "neutral": "#56b4e9",
}

#: Bar colours for the models compared slice by slice (colour-blind-safe, in column order).
MODEL_COLORS = ("#999999", "#56b4e9", "#d55e00", "#009e73", "#cc79a7")

#: Colour and marker of each line of a line chart, in order (colour-blind-safe).
LINE_STYLES = (("#0072b2", "o"), ("#d55e00", "s"), ("#009e73", "D"), ("#cc79a7", "^"))

#: Width of a figure that fills the page of the course site, in inches.
PAGE_WIDTH = 8.0


def new_figure(width: float = PAGE_WIDTH, height: float = 4.0) -> tuple[Figure, object]:
    """A figure with one axes in the course's style: light grid, no top or right spine."""
    figure = Figure(figsize=(width, height), layout="constrained")
    ax = figure.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=11)
    return figure, ax


def finish(ax, title: str, xlabel: str, ylabel: str) -> Figure:
    """Title and label an axes in the course's style and return its figure."""
    ax.set_title(title, fontsize=14, loc="left", pad=12)
    ax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel(ylabel, fontsize=12)
    return ax.figure


# --------------------------------------------------------------------------- lab 1: labeling functions


def plot_lf_summary(summary, title: str = "What each labeling function covers") -> Figure:
    """Grouped horizontal bars of Coverage, Overlaps and Conflicts per LF.

    ``summary`` is the DataFrame of ``LFAnalysis(L, lfs).lf_summary()``: one row
    per labeling function, indexed by its name, with the columns ``Coverage``,
    ``Overlaps`` and ``Conflicts`` (fractions of the data points).
    """
    measures = ["Coverage", "Overlaps", "Conflicts"]
    missing = [column for column in measures if column not in summary.columns]
    if missing:
        raise ValueError(f"the summary has no column(s) {missing}: pass LFAnalysis(...).lf_summary()")
    names = [str(name) for name in summary.index]
    figure, ax = new_figure(height=1.6 + 0.42 * len(names))
    positions = np.arange(len(names))
    height = 0.26
    for offset, measure in zip((-height, 0.0, height), measures, strict=True):
        values = summary[measure].to_numpy(dtype=float)
        ax.barh(positions + offset, values, height=height, label=measure, color=COLORS[measure.lower()])
    ax.set_yticks(positions, names, fontsize=11)
    ax.invert_yaxis()  # first LF on top, as in the table
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.grid(False, axis="y")
    # Outside the axes, under the x-axis label, so it never hides a bar.
    figure.legend(loc="outside lower center", ncols=len(measures), frameon=False, fontsize=11)
    return finish(ax, title, "share of data points", "labeling function")


def plot_label_counts(L, title: str = "How many labeling functions vote on each data point") -> Figure:
    """Bar chart of the number of non-abstaining votes per row of a label matrix ``L``."""
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(
            f"L must be a 2-D label matrix (data points x labeling functions), got shape {L.shape}"
        )
    votes = (L != ABSTAIN).sum(axis=1)
    counts = np.bincount(votes, minlength=L.shape[1] + 1)
    figure, ax = new_figure(height=3.8)
    bars = ax.bar(np.arange(len(counts)), counts, width=0.8, color=COLORS["neutral"])
    bars[0].set_color(COLORS[ABSTAIN])  # no vote at all: these rows get no label
    ax.bar_label(bars, fontsize=10, padding=2)
    ax.set_xticks(np.arange(len(counts)))
    ax.grid(False, axis="x")
    return finish(ax, title, "number of labels (votes that are not ABSTAIN)", "data points")


def plot_probabilities(
    probs, title: str = "How sure the label model is", bins: int = 20, *, L=None
) -> Figure:
    """Histogram of P(SPAM) from a label model's ``predict_proba`` output (n x 2).

    Bars left of 0.5 (the model leans HAM) are blue, bars right of it (leans SPAM) vermilion.
    Pass the label matrix ``L`` the probabilities came from to set apart the data points on
    which no labeling function voted: they are stacked on their bar in grey, with their count in
    the legend, so that "no evidence at all" does not pass for "leans SPAM".
    """
    probs = np.asarray(probs, dtype=float)
    p_spam = probs[:, SPAM] if probs.ndim == 2 else probs
    no_vote = np.zeros(len(p_spam), dtype=bool)
    if L is not None:
        L = np.asarray(L)
        if L.ndim != 2 or L.shape[0] != len(p_spam):
            raise ValueError(
                f"L must be the {len(p_spam)}-row label matrix behind probs, got shape {L.shape}"
            )
        no_vote = (L == ABSTAIN).all(axis=1)
    figure, ax = new_figure(height=3.8)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _, patches = ax.hist(p_spam[~no_vote], bins=edges, edgecolor="white", linewidth=0.8)
    for patch, left in zip(patches, edges[:-1], strict=True):
        patch.set_facecolor(COLORS[SPAM] if left >= 0.5 else COLORS[HAM])
    top = counts.max() if len(counts) else 0
    if no_vote.any():
        grey, _, _ = ax.hist(
            p_spam[no_vote],
            bins=edges,
            bottom=counts,
            color=COLORS[ABSTAIN],
            edgecolor="white",
            linewidth=0.8,
            label=f"no labeling function votes ({int(no_vote.sum())} data points)",
        )
        top = (counts + grey).max()
        ax.legend(loc="upper left", frameon=False, fontsize=10)
    ax.axvline(0.5, color="#333333", linestyle="--", linewidth=1)
    ax.text(0.49, top * 0.82, "leans HAM ", ha="right", va="top", fontsize=11, color=COLORS[HAM])
    ax.text(0.51, top * 0.82, " leans SPAM", ha="left", va="top", fontsize=11, color=COLORS[SPAM])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, top * 1.12 if top else 1)
    ax.grid(False, axis="x")
    return finish(ax, title, "P(SPAM) given the labeling functions' votes", "data points")


# --------------------------------------------------------------------------- lab 2: transformation functions


def plot_learning_curves(
    results,
    title: str = "Test accuracy against the number of training comments",
    xlabel: str = "original training comments",
    ylabel: str = "accuracy on the test set",
) -> Figure:
    """Accuracy against training-set size, one line per setting, with the spread over seeds.

    ``results`` is a DataFrame with one row per run and the columns ``setting`` (for example
    ``"original"`` and ``"augmented"``), ``size`` (the number of training data points drawn),
    ``seed`` and ``accuracy`` (a fraction in [0, 1]). Each setting is drawn as the mean over its
    seeds (a line with markers), a band from the lowest to the highest run at each size, and
    every run as a small dot, so a reader sees at once whether two lines differ by more than
    their seeds do. The x-axis is logarithmic: sizes usually double from one point to the next.
    """
    needed = {"setting", "size", "seed", "accuracy"}
    missing = needed - set(getattr(results, "columns", []))
    if missing:
        raise ValueError(f"results needs the columns {sorted(needed)}; missing {sorted(missing)}")
    if len(results) == 0:
        raise ValueError("results is empty: pass one row per run")
    values = results["accuracy"].to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError("accuracies must be fractions between 0 and 1")
    settings = list(dict.fromkeys(results["setting"]))
    if len(settings) > len(LINE_STYLES):
        raise ValueError(f"at most {len(LINE_STYLES)} settings fit in one chart")
    figure, ax = new_figure(height=4.2)
    for setting, (color, marker) in zip(settings, LINE_STYLES, strict=False):
        runs = results[results["setting"] == setting]
        by_size = runs.groupby("size")["accuracy"]
        sizes = np.asarray(by_size.mean().index, dtype=float)
        ax.fill_between(
            sizes, by_size.min().to_numpy(), by_size.max().to_numpy(), color=color, alpha=0.18, linewidth=0
        )
        ax.plot(
            sizes,
            by_size.mean().to_numpy(),
            color=color,
            marker=marker,
            linewidth=2,
            label=f"{setting} (mean)",
        )
        ax.scatter(runs["size"], runs["accuracy"], color=color, s=10, alpha=0.7, zorder=3)
    sizes = sorted(set(results["size"]))
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.legend(
        loc="lower right", frameon=False, fontsize=11, title="band: lowest to highest seed", title_fontsize=9
    )
    return finish(ax, title, xlabel, ylabel)


# --------------------------------------------------------------------------- lab 3: slicing functions


def plot_slice_scores(
    scores,
    title: str = "Score per slice, model by model",
    metric: str = "F1",
    sizes=None,
) -> Figure:
    """Grouped bars of one metric per slice: one group per slice, one bar per model.

    ``scores`` is a DataFrame with one row per slice (its index: the slice names,
    ``overall`` included, as ``Scorer.score_slices(..., as_dataframe=True)`` names
    them) and one column per model (its header: the model's name); values are scores
    between 0 and 1. ``sizes`` optionally maps a slice name to its number of data
    points, shown under the slice's name so that small, noisy slices stand out.
    """
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError("scores must have at least one slice (row) and one model (column)")
    if scores.shape[1] > len(MODEL_COLORS):
        raise ValueError(f"at most {len(MODEL_COLORS)} models (columns) fit in one chart")
    values = scores.to_numpy(dtype=float)
    if np.any((values < 0) | (values > 1)):
        raise ValueError("scores must lie between 0 and 1")
    slices = [str(name) for name in scores.index]
    labels = [
        f"{name}\n(n={sizes[name]})" if sizes is not None and name in sizes else name for name in slices
    ]
    figure, ax = new_figure(height=4.4)
    positions = np.arange(len(slices))
    n_models = scores.shape[1]
    width = 0.8 / n_models
    for k, (model, color) in enumerate(zip(scores.columns, MODEL_COLORS, strict=False)):
        offsets = positions + (k - (n_models - 1) / 2) * width
        bars = ax.bar(offsets, values[:, k], width=width * 0.95, label=str(model), color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=7.5, padding=1.5, rotation=90 if n_models > 2 else 0)
    ax.set_xticks(positions, labels, fontsize=9)
    ax.set_ylim(0, 1.22)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.grid(False, axis="x")
    ax.legend(loc="upper center", ncols=n_models, frameon=False, fontsize=9, bbox_to_anchor=(0.5, 1.0))
    return finish(ax, title, "slice", f"{metric} on the slice")
