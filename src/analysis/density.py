"""Anomaly scores beyond the KL divergence to the prior: how unlike the training jets a
jet's latent code is.

The KL to the prior asks how far a posterior sits from N(0, 1); these scores ask how
improbable the code is *under the codes of the training jets*:

- :func:`sum_squared_means`: ``sum mu^2``, the score of the CMS Level-1 anomaly trigger
  (no fit, cheap in firmware);
- :class:`Mahalanobis`: ``(f - m)^T S^-1 (f - m)`` with the mean and covariance of the
  training codes;
- :class:`MixtureDensity`: minus the log density of a Gaussian mixture fitted on the
  training codes;
- :class:`Combined`: a sum of scores, each standardized on the training jets.

Features are the posterior means, joined for a joint VAE by the category probabilities
(:func:`latent_features`). Every fitted scorer serializes to plain JSON
(:meth:`to_dict` / :func:`from_dict`) so a shipped model carries the score it recommends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture

#: Diagonal loading of the covariance, relative to its mean variance.
SHRINK = 1e-3


def _means(encoded: Mapping[str, np.ndarray]) -> np.ndarray:
    """Posterior means (``mu``, or the code ``z`` of an autoencoder) as float64."""
    return np.asarray(encoded["mu"] if "mu" in encoded else encoded["z"], np.float64)


def latent_features(encoded: Mapping[str, np.ndarray]) -> np.ndarray:
    """Posterior means (:func:`_means`), followed by the softmax of the category logits
    when the model has them; float64 ``(N, D)``."""
    parts = [_means(encoded)]
    if "logits" in encoded:
        logits = np.asarray(encoded["logits"], np.float64)
        q = np.exp(logits - logits.max(axis=1, keepdims=True))
        parts.append(q / q.sum(axis=1, keepdims=True))
    return np.concatenate(parts, axis=1)


def sum_squared_means(encoded: Mapping[str, np.ndarray]) -> np.ndarray:
    """``sum_i mu_i^2`` per jet: the KL's mean term without the variances."""
    return np.sum(np.square(_means(encoded)), axis=1)


def _features(features: Any) -> np.ndarray:
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"expected a non-empty (N, D) feature array, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("features hold NaN or infinite values")
    return f


@dataclass
class Mahalanobis:
    """Squared Mahalanobis distance to the training codes."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, features: Any) -> Mahalanobis:
        f = _features(features)
        cov = np.atleast_2d(np.cov(f, rowvar=False))
        cov += SHRINK * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
        return cls(f.mean(axis=0), np.linalg.inv(cov))

    def score(self, features: Any) -> np.ndarray:
        d = _features(features) - self.mean
        return np.einsum("ni,ij,nj->n", d, self.precision, d)

    def to_dict(self) -> dict:
        return {"type": "mahalanobis", "mean": self.mean.tolist(),
                "precision": self.precision.tolist()}


@dataclass
class MixtureDensity:
    """Minus the log density of a full-covariance Gaussian mixture fitted on the codes."""

    mixture: GaussianMixture

    @classmethod
    def fit(cls, features: Any, components: int = 8, seed: int = 0) -> MixtureDensity:
        f = _features(features)
        if len(f) < 2 * components:
            raise ValueError(f"{len(f)} training codes are too few for {components} components")
        reg = SHRINK * max(float(np.mean(np.var(f, axis=0))), 1e-12)
        gmm = GaussianMixture(components, covariance_type="full", reg_covar=reg,
                              random_state=seed, n_init=1, max_iter=200)
        return cls(gmm.fit(f))

    def score(self, features: Any) -> np.ndarray:
        return -self.mixture.score_samples(_features(features))

    def to_dict(self) -> dict:
        m = self.mixture
        return {"type": "mixture", "weights": m.weights_.tolist(), "means": m.means_.tolist(),
                "covariances": m.covariances_.tolist()}

    @classmethod
    def from_arrays(cls, weights: Any, means: Any, covariances: Any) -> MixtureDensity:
        """A mixture with given parameters (full covariances), ready to score."""
        weights, means = np.asarray(weights, np.float64), np.asarray(means, np.float64)
        covariances = np.asarray(covariances, np.float64)
        gmm = GaussianMixture(len(weights), covariance_type="full")
        gmm.weights_, gmm.means_, gmm.covariances_ = weights, means, covariances
        gmm.precisions_cholesky_ = np.stack(
            [np.linalg.cholesky(np.linalg.inv(c)) for c in covariances])
        return cls(gmm)


def fit_scorer(kind: str, encoded: Mapping[str, np.ndarray], seed: int = 0,
               components: int = 8) -> Mahalanobis | MixtureDensity:
    """``mahalanobis`` or ``mixture`` fitted on the :func:`latent_features` of training jets."""
    features = latent_features(encoded)
    if kind == "mahalanobis":
        return Mahalanobis.fit(features)
    if kind == "mixture":
        return MixtureDensity.fit(features, components, seed)
    raise ValueError(f"unknown latent density {kind!r} (choose mahalanobis or mixture)")


def from_dict(data: Mapping[str, Any]) -> Mahalanobis | MixtureDensity:
    """A scorer written by ``to_dict``."""
    kind = data.get("type")
    if kind == "mahalanobis":
        return Mahalanobis(np.asarray(data["mean"], np.float64),
                           np.asarray(data["precision"], np.float64))
    if kind == "mixture":
        return MixtureDensity.from_arrays(data["weights"], data["means"], data["covariances"])
    raise ValueError(f"unknown latent scorer type {kind!r}")


@dataclass
class Standardizer:
    """``(s - median) / IQR`` of a score on the training jets, so that scores of different
    units can be summed."""

    median: float
    scale: float

    @classmethod
    def fit(cls, values: Any) -> Standardizer:
        v = np.asarray(values, np.float64)
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        return cls(float(q50), float(max(q75 - q25, 1e-12)))

    def __call__(self, values: Any) -> np.ndarray:
        return (np.asarray(values, np.float64) - self.median) / self.scale


@dataclass
class Combined:
    """Sum of named scores, each standardized on the training jets."""

    parts: dict[str, Standardizer]

    @classmethod
    def fit(cls, training: Mapping[str, Any]) -> Combined:
        if not training:
            raise ValueError("a combined score needs at least one part")
        return cls({name: Standardizer.fit(v) for name, v in training.items()})

    def score(self, values: Mapping[str, Any]) -> np.ndarray:
        missing = sorted(set(self.parts) - set(values))
        if missing:
            raise ValueError(f"combined score misses its parts {', '.join(missing)}")
        return sum(std(values[name]) for name, std in self.parts.items())

    def to_dict(self) -> dict:
        return {name: [s.median, s.scale] for name, s in self.parts.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Combined:
        return cls({name: Standardizer(float(m), float(s)) for name, (m, s) in data.items()})
