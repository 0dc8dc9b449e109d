"""Helpers for lab 3's slice-aware model: seeding, a small MLP, tensors and tidy score tables.

The chapter calls snorkel's own API for everything it teaches (``SliceAwareClassifier``,
``make_slice_dataloader``, ``Trainer``, ``score_slices``); this module only keeps the
plumbing around it short and deterministic.

>>> from labeling_labs.slicing import seed_everything, small_mlp
>>> seed_everything()
>>> mlp = small_mlp(input_dim=3916, hidden_dim=64)
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from labeling_labs.claims import compare, listing, number_word, shown, tally
from labeling_labs.constants import SEED

__all__ = [
    "compare_on_slices",
    "where_the_gain_comes_from",
    "dict_dataset",
    "plain_classifier",
    "seed_everything",
    "slice_scores_by_name",
    "small_mlp",
    "task_predictions",
]


def seed_everything(seed: int = SEED, threads: int | None = 1) -> None:
    """Seed Python's ``random``, NumPy and PyTorch, so that a model's weights and batches repeat.

    PyTorch is also put in deterministic mode, and by default limited to one CPU
    thread: for the small dense layers the course uses, one thread is as fast as
    several on an idle machine and many times faster on a busy one (threads that
    wait for each other), and it keeps the order of floating-point sums fixed.
    Pass ``threads=None`` to leave PyTorch's thread count alone.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def small_mlp(input_dim: int, hidden_dim: int = 64, num_layers: int = 2):
    """A plain feed-forward body: ``num_layers`` linear layers, each followed by a ReLU.

    The first layer maps the ``input_dim`` features to ``hidden_dim``; the others keep
    ``hidden_dim``. The output is a ``hidden_dim`` representation, which is what
    ``SliceAwareClassifier(head_dim=hidden_dim)`` expects from its base architecture.
    Call :func:`seed_everything` first: the weights are drawn from PyTorch's generator.
    """
    from torch import nn

    if input_dim < 1 or hidden_dim < 1 or num_layers < 1:
        raise ValueError("input_dim, hidden_dim and num_layers must all be positive")
    layers: list[nn.Module] = []
    width = input_dim
    for _ in range(num_layers):
        layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    return nn.Sequential(*layers)


def dict_dataset(features, labels, split: str, name: str = "spam"):
    """A snorkel ``DictDataset`` for the default task ``"task"`` and input key ``"input_data"``.

    ``features`` is a dense array or a SciPy sparse matrix (for example the output of a
    ``CountVectorizer``); ``labels`` are the integer gold labels. ``split`` names the
    split the Trainer sees (``"train"``, ``"valid"`` or ``"test"``).
    """
    import torch
    from snorkel.classification import DictDataset

    dense = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
    golds = np.array(labels, dtype=np.int64)
    if dense.shape[0] != golds.shape[0]:
        raise ValueError(f"{dense.shape[0]} rows of features but {golds.shape[0]} labels")
    return DictDataset.from_tensors(
        torch.as_tensor(dense, dtype=torch.float32),
        torch.as_tensor(golds, dtype=torch.long),
        split=split,
        dataset_name=name,
    )


def plain_classifier(base_architecture, head_dim: int, scorer=None, task_name: str = "task"):
    """A slice-unaware ``MultitaskClassifier``: the same body and a single two-class linear head.

    It is the control for ``SliceAwareClassifier``: built from an identical (identically
    seeded) base architecture and trained the same way, it shows how much of a gain comes
    from the slices rather than from the network itself. Its data loaders need no slice
    labels: a ``DictDataLoader`` over :func:`dict_dataset` will do.
    """
    from snorkel.analysis import Scorer
    from snorkel.classification import MultitaskClassifier, Operation, Task
    from torch import nn

    task = Task(
        name=task_name,
        module_pool=nn.ModuleDict({"base_architecture": base_architecture, "head": nn.Linear(head_dim, 2)}),
        op_sequence=[
            Operation(name="body", module_name="base_architecture", inputs=[("_input_", "input_data")]),
            Operation(name="head", module_name="head", inputs=["body"]),
        ],
        scorer=scorer if scorer is not None else Scorer(metrics=["f1"]),
    )
    return MultitaskClassifier([task], name=f"{task_name}_plain_classifier")


def task_predictions(model, dataloader, task_name: str = "task") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(golds, preds, probs)`` of ``model``'s ``task_name`` head as NumPy arrays, in the loader's order.

    The three arrays are what ``Scorer.score_slices(S=..., golds=..., preds=..., probs=...)``
    takes, so a snorkel classifier is monitored with the same call as a scikit-learn one.
    Use a loader without shuffling, so that row ``i`` matches row ``i`` of the slice matrix.
    """
    results = model.predict(dataloader, return_preds=True)
    golds = results["golds"][task_name].numpy().astype(int)
    preds = results["preds"][task_name].numpy().astype(int)
    probs = results["probs"][task_name].numpy()
    return golds, preds, probs


def slice_scores_by_name(
    scores: pd.DataFrame, task_name: str = "task", metric: str | None = None
) -> pd.Series:
    """Turn ``SliceAwareClassifier.score_slices(..., as_dataframe=True)`` into one score per slice.

    The model reports rows labelled ``task_slice:<name>_pred``; this keeps those rows
    (and the plain ``task`` row if present), names them like ``Scorer.score_slices``
    does (``base`` becomes ``overall``) and returns a Series indexed by slice name,
    ``overall`` first. ``metric`` picks one metric when several were scored.
    """
    rows = scores
    if metric is not None:
        rows = rows[rows["metric"] == metric]
    if rows["metric"].nunique() != 1:
        raise ValueError(f"several metrics in the table ({sorted(rows['metric'].unique())}): pass metric=")
    prefix, suffix = f"{task_name}_slice:", "_pred"
    result: dict[str, float] = {}
    for label, score in zip(rows["label"], rows["score"], strict=True):
        if label.startswith(prefix) and label.endswith(suffix):
            name = label[len(prefix) : -len(suffix)]
            result["overall" if name == "base" else name] = float(score)
        elif label == task_name:
            result.setdefault("overall", float(score))
    if "overall" not in result:
        raise ValueError(f"no overall score for task {task_name!r} in the table")
    order = ["overall"] + [name for name in result if name != "overall"]
    return pd.Series({name: result[name] for name in order}, name=metric or rows["metric"].iloc[0])


def compare_on_slices(
    model, other, other_name: str, slices=None, decimals: int = 3, overall: str = "overall"
) -> str:
    """One plain-English sentence comparing ``model`` with ``other``: overall, then slice by slice.

    ``model`` and ``other`` map slice names to scores (Series from ``score_slices``, or columns
    of a comparison table); ``slices`` picks and orders the slices (default: ``model``'s, without
    ``overall``). Scores are compared as a table rounded to ``decimals`` digits shows them, so
    the sentence never calls two scores the reader sees as equal different, or the reverse. The
    overall score gets its own clause whenever both have one: a model can tie on every slice and
    still differ overall, on the data points outside the slices.

    >>> compare_on_slices({"overall": 0.952, "a": 0.714}, {"overall": 0.938, "a": 0.714}, "plain MLP")
    'Overall it scores above the plain MLP (0.952 against 0.938); on its one slice the two score the same.'
    """
    names = [name for name in (slices if slices is not None else list(model.keys())) if name != overall]
    clauses = []
    if overall in model and overall in other:
        a, b = shown(model[overall], decimals), shown(other[overall], decimals)
        side = {1: "above", -1: "below", 0: "the same as"}[compare(a, b, decimals)]
        figures = (
            f"{a:.{decimals}f} against {b:.{decimals}f}" if side != "the same as" else f"{a:.{decimals}f}"
        )
        clauses.append(f"Overall it scores {side} the {other_name} ({figures})")
    if names:
        counts = tally({name: model[name] for name in names}, {name: other[name] for name in names}, decimals)
        above, below, same = counts["ahead"], counts["behind"], counts["tied"]
        n = len(names)
        if len(same) == n:
            where = "both slices" if n == 2 else f"all {number_word(n)} slices" if n > 2 else "its one slice"
            clauses.append(f"on {where} the two score the same")
        else:
            parts = []
            if above:
                parts.append(f"above {'it' if clauses else 'the ' + other_name} on {listing(above)}")
            if below:
                parts.append(f"below {'it' if clauses or above else 'the ' + other_name} on {listing(below)}")
            if same:
                parts.append(
                    f"the same on the other {number_word(len(same))}"
                    if len(same) > 1
                    else "the same on the remaining one"
                )
            lead = "slice by slice, it scores " if clauses else "Slice by slice, it scores "
            clauses.append(
                lead
                + (", ".join(parts[:-1]) + ", and " + parts[-1] if len(parts) > 2 else " and ".join(parts))
            )
    if not clauses:
        raise ValueError("nothing to compare: no overall score and no slice")
    return "; ".join(clauses) + "."


def where_the_gain_comes_from(
    model, control, baseline, slices=None, decimals: int = 3, overall: str = "overall"
) -> str:
    """One sentence: on the slices where ``model`` beats ``baseline``, does ``control`` do as well?

    ``model`` is the slice-aware network, ``control`` the same network without slices and
    ``baseline`` the model both are meant to improve on; each maps slice names to scores, compared
    as shown with ``decimals`` digits. Where the control matches or beats the model on such a
    slice, the gain there comes from the network, not from the slices.

    >>> where_the_gain_comes_from({"a": 0.7, "b": 0.9}, {"a": 0.7, "b": 0.8}, {"a": 0.6, "b": 0.8})
    'On a, where the slice-aware model beats the baseline, the plain MLP does as well: there the gain comes from the network. On b, the slice-aware model is ahead of the plain MLP too: there the slices add something.'
    """
    names = [name for name in (slices if slices is not None else list(model.keys())) if name != overall]
    gained = [name for name in names if compare(model[name], baseline[name], decimals) > 0]
    if not gained:
        return "The slice-aware model beats the baseline on none of the slices."
    matched = [name for name in gained if compare(control[name], model[name], decimals) >= 0]
    ahead = [name for name in gained if name not in matched]
    sentences = []
    if matched:
        every = "every slice" if len(matched) == len(gained) and len(gained) > 1 else listing(matched)
        if every == "every slice":
            sentences.append(
                f"On every slice where the slice-aware model beats the baseline ({listing(matched)}), "
                "the plain MLP does as well: there the gain comes from the network, not from the slices."
            )
        else:
            sentences.append(
                f"On {every}, where the slice-aware model beats the baseline, the plain MLP does as well: "
                "there the gain comes from the network."
            )
    if ahead:
        lead = f"On {listing(ahead)}, the slice-aware model is ahead of the plain MLP too"
        if not matched:
            lead = (
                f"On every slice where the slice-aware model beats the baseline ({listing(ahead)}), "
                "it is ahead of the plain MLP too"
            )
        sentences.append(lead + ": there the slices add something.")
    return " ".join(sentences)
