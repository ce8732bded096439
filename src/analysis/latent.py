"""The latent space of a trained model: the jets it is shown, 2-D embeddings, a linear probe,
category statistics, the distance from the prior, decoded paths.

Models are used through their numpy interface (``spec``, ``encode``, ``decode``), so this
module needs TensorFlow only through the model it is given. Everything is deterministic:
encodings are posterior means and category probabilities, never samples, and every random
draw comes from an explicit seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from ..config import Profile
from ..data.splits import split
from .scores import softmax

__all__ = [
    "LabelledSample",
    "category_occupancy",
    "category_profiles",
    "category_table",
    "embed",
    "embeddings",
    "interpolate",
    "latent_features",
    "prior_distance",
    "probe_auc",
    "rank_correlations",
    "sample_prior",
    "test_subsample",
    "used_categories",
]


@dataclass(frozen=True)
class LabelledSample:
    """Jets of several processes stacked in order: ``values`` maps each field to the stacked
    per-jet array, ``labels`` (N,) is the index of each jet's process in ``processes``."""

    values: dict[str, np.ndarray]
    labels: np.ndarray
    processes: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Number of jets of each process."""
        return {p: int(np.count_nonzero(self.labels == i)) for i, p in enumerate(self.processes)}


def test_subsample(profile: Profile, n: int, fields: Sequence[str] = ("images",),
                   processes: Sequence[str] = ("qcd", "top")) -> LabelledSample:
    """At most ``n`` test jets of each process, drawn without replacement and kept in file
    order; one generator seeded with the profile's seed draws process after process, so the
    same profile always shows the same jets. Images are unit-sum (:func:`split`)."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(profile.seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in fields}
    labels = []
    for label, process in enumerate(processes):
        test = split(profile, process, "test", tuple(fields))
        size = len(next(iter(test.values())))
        keep = np.sort(rng.choice(size, min(n, size), replace=False))
        for name in fields:
            parts[name].append(test[name][keep])
        labels.append(np.full(len(keep), label))
    return LabelledSample({name: np.concatenate(p) for name, p in parts.items()},
                          np.concatenate(labels), tuple(processes))


def embed(features: Any, method: Literal["umap", "tsne", "pca"] = "umap", seed: int = 0,
          **kw: Any) -> np.ndarray:
    """Two-dimensional embedding (N, 2) of the rows of ``features`` (N, D).

    ``umap``: umap-learn's UMAP with ``random_state=seed`` (single-threaded, reproducible);
    ``tsne``: openTSNE with ``random_state=seed`` and ``n_jobs=1`` (reproducible);
    ``pca``: scikit-learn's PCA. Keyword arguments go to the estimator (e.g. ``n_neighbors``,
    ``perplexity``). The first UMAP fit of a process spends tens of seconds compiling numba code.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 1:
        raise ValueError(f"features must be an (N, D) array with N >= 3, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    if method == "umap":
        # umap imports TensorFlow and Keras (for ParametricUMAP): let the project's backend
        # set up legacy Keras first, or Keras 3 would take its place for the whole process.
        from .. import backend  # noqa: F401, I001
        import umap

        reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **kw)
        out = reducer.fit_transform(x)
    elif method == "tsne":
        from openTSNE import TSNE

        out = TSNE(n_components=2, random_state=seed, n_jobs=1, **kw).fit(x)
    elif method == "pca":
        from sklearn.decomposition import PCA

        out = PCA(n_components=2, random_state=seed, **kw).fit_transform(x)
    else:
        raise ValueError(f"unknown embedding method {method!r}; expected 'umap', 'tsne' or 'pca'")
    return np.asarray(out, dtype=np.float64)


def embeddings(features: Mapping[str, Any], methods: Sequence[str] = ("umap", "tsne", "pca"),
               seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """:func:`embed` of every feature set (e.g. continuous, discrete) with every method, keyed
    ``(feature set, method)`` in that order."""
    return {(which, method): embed(x, method, seed=seed)
            for which, x in features.items() for method in methods}


def probe_auc(features: Mapping[str, Any], labels: Any, folds: int = 5) -> pd.Series:
    """Cross-validated AUC of a logistic regression on each feature set (N, D), labels 0 / 1.

    Out-of-fold signal probabilities from ``folds`` stratified folds: an upper bound on what a
    linear cut in that space can do with the labels, not an anomaly score.
    """
    aucs = {}
    for which, x in features.items():
        predicted = cross_val_predict(LogisticRegression(max_iter=2000), x, labels, cv=folds,
                                      method="predict_proba")[:, 1]
        aucs[which] = roc_auc_score(labels, predicted)
    return pd.Series(aucs, name="cross-validated AUC of a linear probe")


def latent_features(model: Any, images: np.ndarray,
                    which: Literal["continuous", "discrete"] = "continuous",
                    batch_size: int = 512) -> np.ndarray:
    """Per-image latent features: posterior means (N, D) or category probabilities (N, K).

    ``continuous`` gives the Gaussian posterior means of a JointVAE or VAE, or the code of an
    autoencoder; ``discrete`` the softmax of a JointVAE's category logits.
    """
    kind = model.spec.kind
    if which not in ("continuous", "discrete"):
        raise ValueError(f"which must be 'continuous' or 'discrete', got {which!r}")
    if which == "discrete" and kind != "jointvae":
        raise ValueError(f"a model of kind {kind!r} has no discrete latent")
    encoded = model.encode(np.asarray(images, dtype=np.float32), batch_size=batch_size)
    if which == "discrete":
        return softmax(encoded["logits"])
    return np.asarray(encoded["z" if kind == "ae" else "mu"], dtype=np.float64)


def _categories(logits: Any) -> tuple[np.ndarray, int]:
    """Most likely category of each row of (N, K) logits or probabilities, and K."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"logits must be a non-empty (N, K) array, got shape {logits.shape}")
    return np.argmax(logits, axis=1), logits.shape[1]


def category_occupancy(logits: Any, labels: Any) -> pd.DataFrame:
    """Fraction of each class's jets whose most likely category is k.

    One row per category 0..K-1 (empty ones included), one column per label value; every
    column sums to 1. ``logits`` may equally be category probabilities.
    """
    category, k = _categories(logits)
    labels = np.asarray(labels)
    if labels.shape != category.shape:
        raise ValueError(f"{category.size} jets but labels of shape {labels.shape}")
    table = pd.crosstab(pd.Series(category, name="category"), pd.Series(labels, name="label"),
                        normalize="columns")
    return table.reindex(pd.RangeIndex(k, name="category"), fill_value=0.0)


def category_profiles(logits: Any, values: Mapping[str, Any]) -> pd.DataFrame:
    """Jet count and mean and standard deviation of each quantity per most likely category.

    ``values`` maps names (e.g. ``jet_mass``, ``n_constituents``) to per-jet arrays. One row
    per category 0..K-1; columns ``n_jets`` and ``<name>_mean``, ``<name>_std`` (sample
    standard deviation; NaN for categories with fewer than two jets).
    """
    category, k = _categories(logits)
    if not values:
        raise ValueError("no quantities to profile")
    frame = pd.DataFrame({"category": category})
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        if v.shape != category.shape:
            raise ValueError(f"{name!r} has shape {v.shape}, expected ({category.size},)")
        frame[name] = v
    grouped = frame.groupby("category")
    table = pd.DataFrame({"n_jets": grouped.size()})
    for name in values:
        table[f"{name}_mean"] = grouped[name].mean()
        table[f"{name}_std"] = grouped[name].std()
    table = table.reindex(pd.RangeIndex(k, name="category"))
    table["n_jets"] = table["n_jets"].fillna(0).astype(int)
    return table


def used_categories(occupancy: pd.DataFrame, threshold: float = 0.01) -> pd.Index:
    """Categories of a :func:`category_occupancy` table holding more than ``threshold`` of the
    jets of at least one class."""
    return occupancy.index[(occupancy > threshold).any(axis=1)]


def category_table(logits: Any, values: Mapping[str, Any], labels: Any,
                   fraction: str = "top fraction") -> pd.DataFrame:
    """:func:`category_profiles` with a column ``fraction``: the share of signal jets (label 1)
    among the jets of each category (NaN for empty categories)."""
    table = category_profiles(logits, values)
    category, _ = _categories(logits)
    table[fraction] = pd.Series(np.asarray(labels)).groupby(category).mean().reindex(table.index)
    return table


def prior_distance(means: Any) -> np.ndarray:
    """Length |mu| (N,) of each jet's vector of posterior means (N, D): its distance from the
    centre of the N(0, 1) prior, in units of the prior's width."""
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2:
        raise ValueError(f"means must be an (N, D) array, got shape {means.shape}")
    return np.linalg.norm(means, axis=1)


def rank_correlations(values: Mapping[str, Any], reference: Any) -> pd.Series:
    """Spearman rank correlation of each per-jet quantity with ``reference`` (e.g. |mu|)."""
    return pd.Series({name: float(spearmanr(v, reference).statistic)
                      for name, v in values.items()}, name="Spearman correlation with |mu|")


def interpolate(model: Any, image_a: np.ndarray, image_b: np.ndarray, steps: int = 10,
                categories: Literal["onehot", "probabilities"] = "onehot") -> np.ndarray:
    """Decoded images (steps, 40, 40) along the straight line between two jets' encodings.

    The continuous part runs linearly from one posterior mean (autoencoder: code) to the
    other. For a JointVAE the category vector, appended after it, runs linearly too: between
    the one-hot vectors of the two most likely categories (``onehot``, so that the end points
    are the deterministic reconstructions) or between the two softmax probability vectors
    (``probabilities``). Both keep it on the probability simplex, where the decoder was trained.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    if categories not in ("onehot", "probabilities"):
        raise ValueError(f"categories must be 'onehot' or 'probabilities', got {categories!r}")
    pair = np.stack([np.asarray(image_a, dtype=np.float32), np.asarray(image_b, dtype=np.float32)])
    if pair.ndim != 3:
        raise ValueError(f"expected two (H, W) images, got shapes {pair.shape[1:]}")
    kind = model.spec.kind
    encoded = model.encode(pair, batch_size=2)
    ends = np.asarray(encoded["z" if kind == "ae" else "mu"], dtype=np.float64)
    if kind == "jointvae":
        q = softmax(encoded["logits"])
        if categories == "onehot":
            q = np.eye(q.shape[1])[np.argmax(q, axis=1)]
        ends = np.concatenate([ends, q], axis=1)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return model.decode((1.0 - t) * ends[0] + t * ends[1])


def sample_prior(model: Any, n: int, seed: int = 0, batch_size: int = 512) -> np.ndarray:
    """``n`` images (n, 40, 40) decoded from the prior: z ~ N(0, 1) and, for a JointVAE, a
    uniformly drawn one-hot category."""
    kind = model.spec.kind
    if kind == "ae":
        raise ValueError("an autoencoder has no prior to sample from")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, model.spec.latent_dim))
    if kind == "jointvae":
        k = model.spec.n_categories
        z = np.concatenate([z, np.eye(k)[rng.integers(0, k, n)]], axis=1)
    return model.decode(z, batch_size)
