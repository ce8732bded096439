"""Metrics that rank anomaly scores: ROC curves, AUC, signal efficiency at a fixed
background efficiency, and their uncertainties from a stratified bootstrap.

Scores are oriented so that higher means more anomalous (see :mod:`src.analysis.scores`).
A score whose AUC is below 0.5 is reported as it is; :func:`orient` flips it only when
asked to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

# Bootstrap replicates are processed in chunks of at most this many (replicate, jet) cells.
_CHUNK_CELLS = 2_000_000


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


def roc_set(values: Mapping[str, Any], labels: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ROC curves ``(fpr, tpr)`` of several scores on the same jets, keyed ``"name (AUC x)"``
    for :func:`src.analysis.plots.roc_curves`."""
    curves = {}
    for name, scores in values.items():
        fpr, tpr, _ = roc(scores, labels)
        curves[f"{name} (AUC {auc(scores, labels):.3f})"] = (fpr, tpr)
    return curves


def stack(background: Any, signal: Any) -> tuple[np.ndarray, np.ndarray]:
    """One score of the background then the signal jets as a float64 array, and their labels
    (0 then 1, int8): the input of :func:`roc`, :func:`auc` and :func:`roc_set`."""
    background = np.asarray(background, dtype=np.float64).ravel()
    signal = np.asarray(signal, dtype=np.float64).ravel()
    labels = np.concatenate([np.zeros(background.size, np.int8), np.ones(signal.size, np.int8)])
    return np.concatenate([background, signal]), labels


def roc_versus(background: Any, signals: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ROC curves of one score, the same background jets against each signal sample in turn
    (``{name: signal scores}``), keyed ``"name (AUC x)"`` like :func:`roc_set`."""
    curves = {}
    for name, signal in signals.items():
        values, labels = stack(background, signal)
        curves.update(roc_set({name: values}, labels))
    return curves


def rejection(scores: Any, labels: Any, efficiency: float) -> float:
    """Background rejection 1 / FPR at signal efficiency (TPR) ``efficiency``, with the FPR
    interpolated linearly along the ROC curve; infinite where no background jet passes."""
    if not 0.0 < efficiency <= 1.0:
        raise ValueError(f"efficiency must be in (0, 1], got {efficiency}")
    fpr, tpr, _ = roc(scores, labels)
    with np.errstate(divide="ignore"):
        return float(1.0 / np.interp(efficiency, tpr, fpr))
