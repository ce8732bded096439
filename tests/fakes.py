"""Deterministic numpy stand-ins shared by the score and latent-space tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class LinearEncoder:
    """A model's numpy ``encode`` interface from fixed random linear maps of the pixels.

    ``batches`` records the size of every encoded batch.
    """

    def __init__(self, kind: str, latent_dim: int, n_categories: int, seed: int):
        self.spec = SimpleNamespace(kind=kind, latent_dim=latent_dim, n_categories=n_categories)
        rng = np.random.default_rng(seed)
        self.w_mu = rng.normal(size=(1600, latent_dim))
        self.w_var = rng.normal(size=(1600, latent_dim))
        self.w_cat = rng.normal(size=(1600, n_categories))
        self.batches: list[int] = []

    def encode(self, images, batch_size=512):
        flat = images.reshape(len(images), -1).astype(np.float64) * 100.0
        self.batches.append(len(images))
        if self.spec.kind == "ae":
            return {"z": flat @ self.w_mu}
        out = {"mu": flat @ self.w_mu, "logvar": np.tanh(flat @ self.w_var)}
        if self.spec.kind == "jointvae":
            out["logits"] = flat @ self.w_cat
        return out


def unit_sum_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random positive 40 x 40 images, each normalized to unit sum."""
    raw = np.random.default_rng(seed).exponential(size=(n, 40, 40)).astype(np.float32)
    return raw / raw.sum(axis=(1, 2), keepdims=True)
