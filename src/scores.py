"""Anomaly scores of jet images and the ROC metrics that rank them.

Every score is per image and oriented so that higher means more anomalous:

- reconstruction scores compare the model input ``x`` (pixel intensities in [0, 1]) with its
  deterministic reconstruction ``x_hat``: ``mse`` (the study's energy difference up to a
  constant factor), ``bce`` (binary cross-entropy of the reconstruction against the input),
  ``dice`` (the Dice loss, one minus the Dice coefficient) and ``total = bce + dice``;
- latent scores are KL divergences of the encoder posterior from the prior: ``kl_cont``
  (Gaussian against N(0, 1)), ``kl_disc`` (categorical against uniform) and their sum
  ``kl_total``.

Metrics are the ROC AUC and the signal efficiency (TPR) at a fixed background efficiency
(FPR), with uncertainties from a stratified bootstrap. A score whose AUC is below 0.5 is
reported as it is; :func:`orient` flips it only when asked to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve
from tqdm.auto import tqdm

__all__ = [
    "EPS",
    "SCORE_COLUMNS",
    "Estimate",
    "auc",
    "bce",
    "bootstrap",
    "dice",
    "kl_cont",
    "kl_disc",
    "kl_total",
    "metrics_table",
    "mse",
    "orient",
    "roc",
    "score_images",
    "softmax",
    "total",
    "tpr_at_fpr",
]

#: Guard inside logarithms, as in the study's losses.
EPS = 1e-7

#: Columns of the score table, in this order (contract of ``python -m src score``).
SCORE_COLUMNS = ("kl_cont", "kl_disc", "kl_total", "bce", "mse", "dice", "total")

_RECONSTRUCTION = ("bce", "mse", "dice", "total")
_COLUMNS_BY_KIND = {
    "jointvae": SCORE_COLUMNS,
    "vae": ("kl_cont", "kl_total", *_RECONSTRUCTION),
    "ae": _RECONSTRUCTION,
}
# Bootstrap replicates are processed in chunks of at most this many (replicate, jet) cells.
_CHUNK_CELLS = 2_000_000


# --------------------------------------------------------------------------- per-image scores


def _pair(x: np.ndarray, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both image stacks as float64 (N, pixels), checking that their shapes agree."""
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"input shape {x.shape} differs from reconstruction shape {x_hat.shape}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty stack of images (N, ...), got shape {x.shape}")
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def mse(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Mean over pixels of ``(x - x_hat)**2`` per image."""
    x, x_hat = _pair(x, x_hat)
    return np.mean((x - x_hat) ** 2, axis=1)


def bce(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Binary cross-entropy summed over pixels, ``x`` the input and ``x_hat`` the reconstruction.

    ``-sum(x log(x_hat + EPS) + (1 - x) log(1 - x_hat + EPS))`` per image.
    """
    x, x_hat = _pair(x, x_hat)
    return -np.sum(x * np.log(x_hat + EPS) + (1.0 - x) * np.log(1.0 - x_hat + EPS), axis=1)


def dice(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Dice loss ``1 - 2 sum(x x_hat) / (sum x + sum x_hat)`` per image (0 for two blank images)."""
    x, x_hat = _pair(x, x_hat)
    overlap = 2.0 * np.sum(x * x_hat, axis=1)
    size = np.sum(x, axis=1) + np.sum(x_hat, axis=1)
    coefficient = np.divide(overlap, size, out=np.ones_like(size), where=size > 0)
    return 1.0 - coefficient


def total(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """``bce + dice`` per image."""
    return bce(x, x_hat) + dice(x, x_hat)


def _latent(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {a.shape}")
    return a


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row maximum so that it cannot overflow."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


def kl_cont(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL of N(mu, exp(logvar)) from N(0, 1): ``-0.5 sum(1 + logvar - mu**2 - exp(logvar))``."""
    mu, logvar = _latent(mu, "mu"), _latent(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu shape {mu.shape} differs from logvar shape {logvar.shape}")
    return -0.5 * np.sum(1.0 + logvar - mu**2 - np.exp(logvar), axis=1)


def kl_disc(logits: np.ndarray) -> np.ndarray:
    """KL of the categorical ``q = softmax(logits)`` from the uniform one over K categories.

    ``sum(q log(q + EPS) - q log(1/K + EPS))`` per image.
    """
    logits = _latent(logits, "logits")
    q = softmax(logits)
    k = logits.shape[1]
    return np.sum(q * np.log(q + EPS) - q * np.log(1.0 / k + EPS), axis=1)


def kl_total(mu: np.ndarray, logvar: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``kl_cont + kl_disc`` per image."""
    cont, disc = kl_cont(mu, logvar), kl_disc(logits)
    if cont.shape != disc.shape:
        raise ValueError(f"{len(cont)} Gaussian posteriors but {len(disc)} categorical ones")
    return cont + disc


# --------------------------------------------------------------------------- scoring a model


def _batch_scores(kind: str, encoded: Mapping[str, np.ndarray], x: np.ndarray,
                  x_hat: np.ndarray) -> dict[str, np.ndarray]:
    """Every score the model kind has, for one batch."""
    out: dict[str, np.ndarray] = {}
    if kind != "ae":
        out["kl_cont"] = kl_cont(encoded["mu"], encoded["logvar"])
        out["kl_total"] = out["kl_cont"]
        if kind == "jointvae":
            out["kl_disc"] = kl_disc(encoded["logits"])
            out["kl_total"] = out["kl_cont"] + out["kl_disc"]
    out["bce"] = bce(x, x_hat)
    out["mse"] = mse(x, x_hat)
    out["dice"] = dice(x, x_hat)
    out["total"] = out["bce"] + out["dice"]
    return out


def score_images(model: Any, images: Any, batch_size: int = 1024, progress: bool = False,
                 normalize: bool = False) -> pd.DataFrame:
    """Score every image with ``model``, one row per image, columns in :data:`SCORE_COLUMNS` order.

    ``images`` is anything of shape (N, 40, 40) that slices into numpy arrays (an array or an
    h5py dataset); it is read ``batch_size`` images at a time, so memory stays bounded. The
    model sees unit-sum images: pass ``normalize=True`` to divide each image by its sum first
    (raw pixel pT, as stored in the jet files; blank images stay blank). A JointVAE gets all
    columns, a VAE no ``kl_disc`` (its ``kl_total`` equals ``kl_cont``), an autoencoder only the
    reconstruction scores. Scores are deterministic: posterior means and the most likely
    category, as in ``model.reconstruct``.
    """
    kind = model.spec.kind
    if kind not in _COLUMNS_BY_KIND:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(_COLUMNS_BY_KIND)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not hasattr(images, "shape"):
        images = np.asarray(images)
    if len(images.shape) != 3 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W) image stack, got shape {images.shape}")
    n = images.shape[0]
    columns = _COLUMNS_BY_KIND[kind]
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    with tqdm(total=n, disable=not progress, unit="jet", desc="scoring") as bar:
        for start in range(0, n, batch_size):
            x = np.asarray(images[start:start + batch_size], dtype=np.float32)
            if normalize:
                sums = x.sum(axis=(1, 2), keepdims=True)
                x = np.divide(x, sums, out=np.zeros_like(x), where=sums > 0)
            encoded = model.encode(x, batch_size=batch_size) if kind != "ae" else {}
            x_hat = np.asarray(model.reconstruct(x, batch_size=batch_size))
            if x_hat.ndim == 4 and x_hat.shape[-1] == 1:
                x_hat = x_hat[..., 0]
            for name, values in _batch_scores(kind, encoded, x, x_hat).items():
                parts[name].append(values)
            bar.update(len(x))
    return pd.DataFrame({c: np.concatenate(parts[c]) for c in columns})


# --------------------------------------------------------------------------- ROC metrics


def _check(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and labels as int8, both 1-D, with both classes present."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {scores.shape} and {labels.shape}")
    if scores.size == 0:
        raise ValueError("scores are empty")
    if scores.size != labels.size:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{np.count_nonzero(~np.isfinite(scores))} scores are NaN or infinite")
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"labels must be 0 (background) or 1 (signal), got values {np.unique(labels)[:5]}")
    if np.all(labels == labels[0]):
        raise ValueError(f"only one class present (label {labels[0]}); need background and signal")
    return scores, labels.astype(np.int8)


def _check_fpr(fpr: float) -> float:
    if not 0.0 < fpr <= 1.0:
        raise ValueError(f"fpr must be in (0, 1], got {fpr}")
    return float(fpr)


def roc(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` of a score, signal = label 1, starting at (0, 0)."""
    scores, labels = _check(scores, labels)
    return roc_curve(labels, scores)


def auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve; below 0.5 when the score ranks signal lower (not flipped)."""
    scores, labels = _check(scores, labels)
    return float(roc_auc_score(labels, scores))


def _interp_tpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> np.ndarray:
    """TPR at FPR ``target`` on ROC curves given as rows of non-decreasing (fpr, tpr) points.

    The highest TPR among the points with FPR <= target, joined linearly to the next point
    (the curve between two thresholds, reachable by mixing them at random).
    """
    i = np.sum(fpr <= target, axis=-1, keepdims=True) - 1
    j = np.minimum(i + 1, fpr.shape[-1] - 1)
    f0, f1 = np.take_along_axis(fpr, i, -1), np.take_along_axis(fpr, j, -1)
    t0, t1 = np.take_along_axis(tpr, i, -1), np.take_along_axis(tpr, j, -1)
    step = np.divide(target - f0, f1 - f0, out=np.zeros_like(f0), where=f1 > f0)
    return (t0 + step * (t1 - t0))[..., 0]


def tpr_at_fpr(scores: Any, labels: Any, fpr: float) -> float:
    """Signal efficiency at background efficiency ``fpr``, interpolated on the ROC curve."""
    target = _check_fpr(fpr)
    fprs, tprs, _ = roc(scores, labels)
    return float(_interp_tpr(fprs, tprs, target))


def orient(scores: Any, labels: Any) -> tuple[np.ndarray, bool]:
    """The score negated when its AUC is below 0.5, and whether it was; only on request."""
    flipped = auc(scores, labels) < 0.5
    scores = np.asarray(scores, dtype=np.float64)
    return (-scores if flipped else scores), flipped


class Estimate(NamedTuple):
    """Bootstrap mean and standard deviation of a metric."""

    mean: float
    std: float


def _resamples(labels: np.ndarray, n: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of stratified bootstrap draws: indices into the signal and the background jets.

    Each replicate draws as many signal and background jets, with replacement, as the sample
    holds, so both classes are always present.
    """
    rng = np.random.default_rng(seed)
    n_sig, n_bkg = int(labels.sum()), int(labels.size - labels.sum())
    chunk = max(1, _CHUNK_CELLS // labels.size)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        yield rng.integers(0, n_sig, (size, n_sig)), rng.integers(0, n_bkg, (size, n_bkg))


def _counts(draws: np.ndarray, m: int) -> np.ndarray:
    """How often each of ``m`` items occurs in every row of ``draws``, as a (rows, m) array."""
    rows = draws.shape[0]
    flat = (draws + m * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * m).reshape(rows, m)


def _bootstrap_roc(scores: np.ndarray, labels: np.ndarray, fprs: Sequence[float], n: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AUC (n,) and TPR at each FPR (n, len(fprs)) of ``n`` stratified bootstrap replicates.

    A replicate is the sample with every jet weighted by how often it was drawn; the weighted
    ROC curves of a whole chunk of replicates come from one cumulative sum over the jets
    sorted by score, with tied scores sharing one threshold (as in scikit-learn).
    """
    order = np.argsort(-scores, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    sorted_scores = scores[order]
    ends = np.append(np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1)
    sig_slots, bkg_slots = rank[labels == 1], rank[labels == 0]
    n_sig, n_bkg = sig_slots.size, bkg_slots.size
    aucs, tprs = [], []
    for sig_draws, bkg_draws in _resamples(labels, n, seed):
        rows = sig_draws.shape[0]
        weights = np.zeros((rows, scores.size))
        weights[:, sig_slots] = _counts(sig_draws, n_sig)
        tp = np.cumsum(weights, axis=1)[:, ends] / n_sig
        weights[:] = 0.0
        weights[:, bkg_slots] = _counts(bkg_draws, n_bkg)
        fp = np.cumsum(weights, axis=1)[:, ends] / n_bkg
        tp = np.concatenate([np.zeros((rows, 1)), tp], axis=1)
        fp = np.concatenate([np.zeros((rows, 1)), fp], axis=1)
        aucs.append(np.trapezoid(tp, fp, axis=1))
        tprs.append(np.array([_interp_tpr(fp, tp, f) for f in fprs]).reshape(len(fprs), rows).T)
    return np.concatenate(aucs), np.concatenate(tprs)


def bootstrap(scores: Any, labels: Any,
              metric: Literal["auc", "tpr_at_fpr"] | Callable[[np.ndarray, np.ndarray], float] = "auc",
              n: int = 200, seed: int = 0, fpr: float = 0.1) -> Estimate:
    """Mean and standard deviation of a metric over ``n`` stratified bootstrap replicates.

    ``metric`` is ``"auc"``, ``"tpr_at_fpr"`` (at ``fpr``), both computed for all replicates at
    once, or any callable ``metric(scores, labels) -> float``, called once per replicate. The
    same ``seed`` draws the same replicates whatever the metric.
    """
    scores, labels = _check(scores, labels)
    if n < 2:
        raise ValueError(f"need at least 2 bootstrap replicates, got {n}")
    if callable(metric):
        sig, bkg = scores[labels == 1], scores[labels == 0]
        replicate_labels = np.concatenate([np.ones(sig.size, np.int8), np.zeros(bkg.size, np.int8)])
        values = np.array([
            metric(np.concatenate([sig[s], bkg[b]]), replicate_labels)
            for sig_draws, bkg_draws in _resamples(labels, n, seed)
            for s, b in zip(sig_draws, bkg_draws, strict=True)
        ])
    elif metric == "auc":
        values, _ = _bootstrap_roc(scores, labels, (), n, seed)
    elif metric == "tpr_at_fpr":
        values = _bootstrap_roc(scores, labels, (_check_fpr(fpr),), n, seed)[1][:, 0]
    else:
        raise ValueError(f"unknown metric {metric!r}; expected 'auc', 'tpr_at_fpr' or a callable")
    return Estimate(float(np.mean(values)), float(np.std(values, ddof=1)))


def metrics_table(background: pd.DataFrame | Mapping[str, Any], signal: pd.DataFrame | Mapping[str, Any],
                  fprs: Sequence[float] = (0.1, 0.01), n_bootstrap: int = 200, seed: int = 0,
                  scores: Sequence[str] | None = None) -> pd.DataFrame:
    """AUC and TPR at each FPR, with bootstrap standard deviations, for every score.

    ``background`` and ``signal`` map score names to per-jet scores (a :func:`score_images`
    frame or a dict); by default every score present in both is tabulated, in the
    background's order. One row per score; columns ``auc``, ``auc_std`` and, for each FPR f,
    ``tpr@fpr=f`` and ``tpr@fpr=f_std``. Values are from the full sample, uncertainties are
    the standard deviation over ``n_bootstrap`` stratified replicates (the same replicates for
    every score). Scores are not re-oriented: an AUC below 0.5 is reported as it is.
    """
    names = list(scores) if scores is not None else [k for k in background if k in signal]
    if not names:
        raise ValueError("background and signal have no score in common")
    if n_bootstrap < 2:
        raise ValueError(f"need at least 2 bootstrap replicates, got {n_bootstrap}")
    fprs = tuple(_check_fpr(f) for f in fprs)
    rows = {}
    for name in names:
        if name not in background or name not in signal:
            raise ValueError(f"score {name!r} is missing from the background or the signal")
        bkg, sig = np.asarray(background[name]), np.asarray(signal[name])
        values = np.concatenate([bkg, sig])
        labels = np.concatenate([np.zeros(bkg.size, np.int8), np.ones(sig.size, np.int8)])
        values, labels = _check(values, labels)
        fpr_curve, tpr_curve, _ = roc_curve(labels, values)
        boot_auc, boot_tpr = _bootstrap_roc(values, labels, fprs, n_bootstrap, seed)
        row = {"auc": roc_auc_score(labels, values), "auc_std": np.std(boot_auc, ddof=1)}
        for k, f in enumerate(fprs):
            row[f"tpr@fpr={f:g}"] = float(_interp_tpr(fpr_curve, tpr_curve, f))
            row[f"tpr@fpr={f:g}_std"] = np.std(boot_tpr[:, k], ddof=1)
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "score"
    return table
