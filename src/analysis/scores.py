"""Anomaly scores of jet images and the ROC metrics that rank them.

Every score is per image and oriented so that higher means more anomalous:

- reconstruction scores compare the model input ``x`` (pixel intensities in [0, 1]) with its
  deterministic reconstruction ``x_hat``: ``mse`` (the study's energy difference up to a
  constant factor), ``bce`` (binary cross-entropy of the reconstruction against the input),
  ``dice`` (the Dice loss, one minus the Dice coefficient) and ``total = bce + dice``;
- latent scores are KL divergences of the encoder posterior from the prior: ``kl_cont``
  (Gaussian against N(0, 1)), ``kl_disc`` (categorical against uniform) and their sum
  ``kl_total``.

The metrics that rank the scores are in :mod:`src.analysis.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

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


def kl_scores(encoded: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """``kl_cont``, ``kl_disc`` and ``kl_total`` per image from a joint-VAE encoder's outputs
    (``logits``, ``mu``, ``logvar``, as :func:`src.models.networks.encoder_outputs` names them)."""
    cont, disc = kl_cont(encoded["mu"], encoded["logvar"]), kl_disc(encoded["logits"])
    return pd.DataFrame({"kl_cont": cont, "kl_disc": disc, "kl_total": cont + disc})


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
            x = model.target(x)  # reconstruction scores compare in the model's intensities
            if x_hat.ndim == 4 and x_hat.shape[-1] == 1:
                x_hat = x_hat[..., 0]
            for name, values in _batch_scores(kind, encoded, x, x_hat).items():
                parts[name].append(values)
            bar.update(len(x))
    return pd.DataFrame({c: np.concatenate(parts[c]) for c in columns})
