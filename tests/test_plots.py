"""The chapters' figures from labeling_labs.plots, drawn from real snorkel and scikit-learn output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from snorkel.labeling import LabelingFunction, PandasLFApplier
from snorkel.labeling.model import LabelModel

from labeling_labs import ABSTAIN, HAM, SEED, SPAM, load_spam_splits
from labeling_labs.plots import COLORS, plot_learning_curves, plot_probabilities


def _keyword_lf(word, label):
    return LabelingFunction(name=f"kw_{word}", f=lambda x: label if word in x.text.lower() else ABSTAIN)


@pytest.fixture(scope="module")
def label_model_output():
    train = load_spam_splits().train
    lfs = [
        _keyword_lf("my", SPAM),
        _keyword_lf("http", SPAM),
        _keyword_lf("song", HAM),
        _keyword_lf("love", HAM),
    ]
    L = PandasLFApplier(lfs).apply(train, progress_bar=False)
    model = LabelModel(cardinality=2, verbose=False)
    model.fit(L_train=L, n_epochs=100, seed=SEED, progress_bar=False)
    return model.predict_proba(L), L


def test_plot_probabilities_sets_the_comments_without_a_vote_apart(label_model_output):
    probs, L = label_model_output
    no_vote = (L == ABSTAIN).all(axis=1)
    assert no_vote.sum() > 100, "four keyword LFs leave many comments without a vote"
    assert np.allclose(probs[no_vote, SPAM], 0.5), "snorkel's uniform prior, with no class_balance"
    figure = plot_probabilities(probs, title="P(SPAM)", L=L)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    grey = [p for p in ax.patches if to_hex(p.get_facecolor()) == COLORS[ABSTAIN] and p.get_height() > 0]
    assert len(grey) == 1, "all comments without a vote sit in one grey bar"
    (bar,) = grey
    assert bar.get_x() <= 0.5 < bar.get_x() + bar.get_width()
    assert bar.get_height() == no_vote.sum()
    coloured = sum(p.get_height() for p in ax.patches if p not in grey)
    assert coloured == len(probs) - no_vote.sum(), "the coloured bars count only comments with votes"
    (legend_text,) = [t.get_text() for t in ax.get_legend().get_texts()]
    assert str(int(no_vote.sum())) in legend_text
    # Without L the histogram is the old one: every comment in the coloured bars.
    (plain_ax,) = plot_probabilities(probs).axes
    assert sum(p.get_height() for p in plain_ax.patches) == len(probs)
    with pytest.raises(ValueError, match="label matrix"):
        plot_probabilities(probs, L=L[:10])


def _runs():
    rows = []
    for size, accs in {50: (0.75, 0.80, 0.78), 100: (0.81, 0.84, 0.83), 1586: (0.88,)}.items():
        for seed, acc in enumerate(accs):
            rows.append({"setting": "original", "size": size, "seed": seed, "accuracy": acc})
            rows.append({"setting": "augmented", "size": size, "seed": seed, "accuracy": acc + 0.01})
    return pd.DataFrame(rows)


def test_plot_learning_curves_draws_means_bands_and_every_run():
    figure = plot_learning_curves(_runs(), title="A title")
    (ax,) = figure.axes
    assert ax.get_title(loc="left") == "A title" and ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"original (mean)", "augmented (mean)"}
    assert list(lines["original (mean)"].get_xdata()) == [50, 100, 1586]
    assert np.allclose(lines["original (mean)"].get_ydata(), [0.7766667, 0.8266667, 0.88])
    assert np.allclose(lines["augmented (mean)"].get_ydata(), [0.7866667, 0.8366667, 0.89])
    dots = [c for c in ax.collections if c.get_offsets().shape[0] == 7]
    assert len(dots) == 2, "one dot per run, for each setting"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["50", "100", "1586"]


@pytest.mark.parametrize(
    "change",
    [
        lambda runs: runs.drop(columns="seed"),
        lambda runs: runs.assign(accuracy=runs["accuracy"] * 100),
        lambda runs: runs.iloc[:0],
    ],
)
def test_plot_learning_curves_rejects_what_it_cannot_draw_honestly(change):
    with pytest.raises(ValueError):
        plot_learning_curves(change(_runs()))
