"""labeling_labs.slicing and plots.plot_slice_scores: real snorkel objects on the real data.

The fast tests train on a reduced vocabulary (a few hundred words) so that each model
takes about a second; the slow test executes the lab 3 chapter itself and checks that
the numbers it glues into its prose are the tutorials' numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.feature_extraction.text import CountVectorizer
from snorkel.analysis import Scorer
from snorkel.classification import DictDataLoader, Trainer
from snorkel.slicing import PandasSFApplier, SliceAwareClassifier, SlicingFunction
from support.slices import regex_check_out, short_comment

from labeling_labs import SEED, load_spam_splits
from labeling_labs.plots import MODEL_COLORS, plot_slice_scores
from labeling_labs.slicing import (
    compare_on_slices,
    dict_dataset,
    plain_classifier,
    seed_everything,
    slice_scores_by_name,
    small_mlp,
    task_predictions,
)


def _contains_any(x, keywords):
    return any(word in x.text.lower() for word in keywords)


keyword_please = SlicingFunction(
    name="keyword_please", f=_contains_any, resources=dict(keywords=["please", "plz"])
)
SFS = [short_comment, keyword_please, regex_check_out]
NAMES = [sf.name for sf in SFS]


@pytest.fixture(scope="module")
def data():
    train, _, _, test = load_spam_splits(train_labels=True)
    vectorizer = CountVectorizer(max_features=300)
    X_train = vectorizer.fit_transform(train["text"])
    X_test = vectorizer.transform(test["text"])
    applier = PandasSFApplier(SFS)
    return {
        "train": train,
        "test": test,
        "X_train": X_train,
        "X_test": X_test,
        "S_train": applier.apply(train, progress_bar=False),
        "S_test": applier.apply(test, progress_bar=False),
    }


def train_slice_model(data, hidden=32, epochs=3):
    seed_everything(SEED)
    scorer = Scorer(metrics=["f1"])
    model = SliceAwareClassifier(
        base_architecture=small_mlp(data["X_train"].shape[1], hidden_dim=hidden),
        head_dim=hidden,
        slice_names=NAMES,
        scorer=scorer,
    )
    train_loader = model.make_slice_dataloader(
        dict_dataset(data["X_train"], data["train"]["label"], split="train"),
        data["S_train"],
        shuffle=True,
        batch_size=64,
    )
    test_loader = model.make_slice_dataloader(
        dict_dataset(data["X_test"], data["test"]["label"], split="test"), data["S_test"], batch_size=64
    )
    Trainer(n_epochs=epochs, lr=1e-3, progress_bar=False).fit(model, [train_loader])
    return model, test_loader


# --------------------------------------------------------------------------- small_mlp, seeding


def test_small_mlp_maps_the_features_to_the_hidden_size():
    body = small_mlp(input_dim=30, hidden_dim=8, num_layers=2)
    out = body(torch.zeros(5, 30))
    assert out.shape == (5, 8)
    assert sum(p.numel() for p in body.parameters()) == (30 * 8 + 8) + (8 * 8 + 8)
    assert (out >= 0).all(), "the body ends with a ReLU"


@pytest.mark.parametrize(
    "kwargs", [{"input_dim": 0}, {"input_dim": 3, "hidden_dim": 0}, {"input_dim": 3, "num_layers": 0}]
)
def test_small_mlp_rejects_empty_layers(kwargs):
    with pytest.raises(ValueError, match="must all be positive"):
        small_mlp(**kwargs)


def test_seed_everything_makes_weights_repeat_and_another_seed_changes_them():
    seed_everything(SEED)
    first = [p.detach().clone() for p in small_mlp(20, 4).parameters()]
    seed_everything(SEED)
    second = [p.detach().clone() for p in small_mlp(20, 4).parameters()]
    seed_everything(SEED + 1)
    third = [p.detach().clone() for p in small_mlp(20, 4).parameters()]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(first, third, strict=True))
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()


# --------------------------------------------------------------------------- dict_dataset


def test_dict_dataset_takes_sparse_counts_and_names_the_default_task(data):
    dataset = dict_dataset(data["X_test"], data["test"]["label"], split="test")
    assert dataset.split == "test"
    assert list(dataset.X_dict) == ["input_data"] and list(dataset.Y_dict) == ["task"]
    features = dataset.X_dict["input_data"]
    assert features.dtype == torch.float32 and features.shape == data["X_test"].shape
    assert np.array_equal(features.numpy(), data["X_test"].toarray())
    assert dataset.Y_dict["task"].dtype == torch.long
    assert dataset.Y_dict["task"].tolist() == data["test"]["label"].tolist()


def test_dict_dataset_refuses_rows_and_labels_of_different_lengths(data):
    with pytest.raises(ValueError, match="rows of features but"):
        dict_dataset(data["X_test"], data["test"]["label"].iloc[:-1], split="test")


# --------------------------------------------------------------------------- the slice-aware model


def test_make_slice_dataloader_adds_indicator_and_masked_prediction_labels(data):
    seed_everything(SEED)
    model = SliceAwareClassifier(small_mlp(data["X_test"].shape[1], 8), head_dim=8, slice_names=NAMES)
    loader = model.make_slice_dataloader(
        dict_dataset(data["X_test"], data["test"]["label"], split="test"), data["S_test"], batch_size=32
    )
    labels = loader.dataset.Y_dict
    golds = data["test"]["label"].to_numpy()
    for name in [*NAMES, "base"]:
        members = data["S_test"][name].astype(bool) if name != "base" else np.ones(len(golds), bool)
        assert labels[f"task_slice:{name}_ind"].numpy().astype(bool).tolist() == members.tolist()
        pred = labels[f"task_slice:{name}_pred"].numpy()
        assert (pred[members] == golds[members]).all() and (pred[~members] == -1).all()


def test_the_small_slice_aware_model_trains_to_identical_scores_twice(data):
    first, loader_1 = train_slice_model(data)
    second, loader_2 = train_slice_model(data)
    scores_1 = first.score_slices([loader_1], as_dataframe=True)
    scores_2 = second.score_slices([loader_2], as_dataframe=True)
    pd.testing.assert_frame_equal(scores_1, scores_2)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    # It learned something: always saying SPAM would score F1 = 0.64 on this test set.
    assert slice_scores_by_name(scores_1)["overall"] > 0.85


def test_slice_scores_by_name_agrees_with_scorer_score_slices_on_the_models_own_predictions(data):
    model, test_loader = train_slice_model(data)
    tidy = slice_scores_by_name(model.score_slices([test_loader], as_dataframe=True))
    assert list(tidy.index) == ["overall", *NAMES]
    golds, preds, probs = task_predictions(model, test_loader)
    assert golds.tolist() == data["test"]["label"].tolist()
    assert preds.shape == golds.shape and probs.shape == (len(golds), 2)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    recomputed = Scorer(metrics=["f1"]).score_slices(
        S=data["S_test"], golds=golds, preds=preds, probs=probs, as_dataframe=True
    )["f1"]
    pd.testing.assert_series_equal(tidy, recomputed, check_names=False, atol=1e-9)


def test_slice_scores_by_name_asks_for_a_metric_when_there_are_several():
    table = pd.DataFrame(
        {
            "label": ["task", "task", "task_slice:a_pred", "task_slice:a_pred", "task_slice:a_ind"],
            "dataset": "d",
            "split": "test",
            "metric": ["f1", "accuracy", "f1", "accuracy", "f1"],
            "score": [0.9, 0.8, 0.5, 0.4, 1.0],
        }
    )
    with pytest.raises(ValueError, match="pass metric="):
        slice_scores_by_name(table)
    accuracy = slice_scores_by_name(table, metric="accuracy")
    assert accuracy.to_dict() == {"overall": 0.8, "a": 0.4}
    with pytest.raises(ValueError, match="no overall score"):
        slice_scores_by_name(table[table["label"] != "task"], metric="f1")


def test_plain_classifier_trains_with_the_same_trainer_and_is_deterministic(data):
    def run():
        seed_everything(SEED)
        model = plain_classifier(small_mlp(data["X_train"].shape[1], 32), head_dim=32)
        loader = DictDataLoader(
            dict_dataset(data["X_train"], data["train"]["label"], split="train"), shuffle=True, batch_size=64
        )
        Trainer(n_epochs=3, lr=1e-3, progress_bar=False).fit(model, [loader])
        test_loader = DictDataLoader(
            dict_dataset(data["X_test"], data["test"]["label"], split="test"), batch_size=64
        )
        return task_predictions(model, test_loader)

    golds, preds_1, probs_1 = run()
    _, preds_2, probs_2 = run()
    assert np.array_equal(preds_1, preds_2) and np.array_equal(probs_1, probs_2)
    assert set(np.unique(preds_1)) == {0, 1}
    assert (preds_1 == golds).mean() > 0.85


def test_compare_on_slices_says_where_a_model_is_above_below_or_level():
    model = pd.Series({"overall": 0.95, "a": 0.7, "b": 1.0, "c": 0.8, "d": 0.5})
    other = pd.Series({"overall": 0.90, "a": 0.6, "b": 0.9, "c": 0.9, "d": 0.5})
    assert compare_on_slices(model, other, "baseline") == (
        "Overall it scores above the baseline (0.950 against 0.900); slice by slice, it scores above it "
        "on a and b, below it on c, and the same on the remaining one."
    )
    assert compare_on_slices(model, model, "plain MLP") == (
        "Overall it scores the same as the plain MLP (0.950); on all four slices the two score the same."
    )
    assert compare_on_slices(other, model, "MLP", slices=["a", "d"]) == (
        "Overall it scores below the MLP (0.900 against 0.950); slice by slice, it scores below it on a "
        "and the same on the remaining one."
    )
    without_overall = {name: value for name, value in model.items() if name != "overall"}
    assert compare_on_slices(without_overall, other, "baseline", slices=["a", "b"]) == (
        "Slice by slice, it scores above the baseline on a and b."
    )
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_on_slices({"a": 1.0}, {"a": 1.0}, "baseline", slices=[])


# --------------------------------------------------------------------------- plot_slice_scores


def _scores():
    index = ["overall", "short_comment", "short_link"]
    return pd.DataFrame({"baseline": [0.925, 0.667, 0.5], "slice-aware": [0.95, 0.71, 1.0]}, index=index)


def test_plot_slice_scores_draws_titled_labelled_grouped_bars():
    figure = plot_slice_scores(_scores(), title="F1 per slice", sizes={"overall": 250, "short_link": 3})
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    assert ax.get_title(loc="left") == "F1 per slice"
    assert ax.get_xlabel() == "slice" and ax.get_ylabel() == "F1 on the slice"
    assert len(ax.patches) == 6, "one bar per slice and model"
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == sorted([0.925, 0.667, 0.5, 0.95, 0.71, 1.0])
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["overall\n(n=250)", "short_comment", "short_link\n(n=3)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline", "slice-aware"]
    assert figure.get_figwidth() >= 7, "readable at page width"


def test_plot_slice_scores_rejects_what_it_cannot_draw_honestly():
    with pytest.raises(ValueError, match="between 0 and 1"):
        plot_slice_scores(_scores() * 100)
    too_many = pd.DataFrame({f"m{k}": [0.5] for k in range(len(MODEL_COLORS) + 1)}, index=["overall"])
    with pytest.raises(ValueError, match="at most"):
        plot_slice_scores(too_many)
    with pytest.raises(ValueError, match="at least one"):
        plot_slice_scores(pd.DataFrame())


# --------------------------------------------------------------------------- the chapter itself


@pytest.mark.slow
def test_the_chapter_reproduces_the_tutorials_slice_numbers():
    """Execute book/03-slicing-functions.md and read the numbers it glues into its prose."""
    import nbclient
    from conftest import REPO
    from myst_nb.core.read import read_myst_markdown_notebook

    source = (REPO / "book" / "03-slicing-functions.md").read_text()
    notebook = read_myst_markdown_notebook(source)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO / "book")}}
    ).execute()
    glued = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output.get("evalue")
            assert not (output["output_type"] == "stream" and output["name"] == "stderr"), output["text"][
                :300
            ]
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                glued[name] = output["data"]["application/papermill.record/text/plain"]
    sizes_test = [
        int(glued[f"size_test_{n}"])
        for n in ("short_comment", "keyword_please", "regex_check_out", "short_link", "textblob_polarity")
    ]
    sizes_train = [
        int(glued[f"size_train_{n}"])
        for n in ("short_comment", "keyword_please", "regex_check_out", "short_link", "textblob_polarity")
    ]
    assert sizes_test == [92, 23, 45, 3, 24]
    assert sizes_train == [358, 178, 371, 1, 56]
    baseline = [
        round(float(glued[f"base_{n}"]), 3)
        for n in (
            "overall",
            "short_comment",
            "keyword_please",
            "regex_check_out",
            "short_link",
            "textblob_polarity",
        )
    ]
    assert baseline == [0.925, 0.667, 1.0, 1.0, 0.5, 0.727]
    assert glued["weakest_big_slice"].strip("'") == "short_comment"
    assert 0.85 < float(glued["aware_overall"]) <= 1.0
