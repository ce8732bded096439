"""Every anomaly score of one trained model on the same test jets, and what it measures
(chapter 7): AUC for top and W jets (trained on QCD) or for QCD jets (trained on top, the
inverted task), the AUC inside the top-mass window, the sculpting of the QCD mass, and how
much the latent carries (KL terms, category purity, reconstruction spread).

Scores, each oriented so that higher is more anomalous:

- ``kl_total``, ``kl_cont``, ``kl_disc``: the KL to the prior (the study's scores);
- ``bce``: the reconstruction's binary cross-entropy;
- ``sum_mu2``: the sum of squared posterior means (:func:`src.analysis.density.sum_squared_means`);
- ``mahalanobis`` and ``mixture``: the distance to / minus the log density of the codes of
  the training jets (:mod:`src.analysis.density`), fitted on training jets of the model's
  own class;
- ``mixture+bce``: the two standardized on the training jets and summed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .density import (
    Combined,
    Mahalanobis,
    MixtureDensity,
    fit_scorer,
    from_dict,
    latent_features,
    sum_squared_means,
)
from .massdep import TOP_WINDOW, auc_in_window, mass_window_score, sculpting
from .metrics import auc, stack
from .scores import bce, kl_cont, kl_disc
from .training import reconstruction_spread

#: Scores of a generative model, in table order (a kind keeps those it has).
SCORES = ("kl_total", "kl_cont", "kl_disc", "bce", "sum_mu2", "mahalanobis", "mixture",
          "mixture+bce")
#: Components of the latent mixture density.
MIXTURE_COMPONENTS = 8


def model_scores(model: Any, images: np.ndarray, batch_size: int = 1024) -> tuple[
        pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """The model's own per-image scores (KL terms where it has them, ``bce``), its encoder
    outputs and its deterministic reconstructions, from one pass of the encoder."""
    encoded = model.encode(images, batch_size)
    x_hat = model.decode(model.deterministic_latent(encoded), batch_size)
    frame = pd.DataFrame({"bce": bce(model.target(images), x_hat)})
    if "mu" in encoded:
        frame["kl_cont"] = kl_cont(encoded["mu"], encoded["logvar"])
        frame["kl_total"] = frame["kl_cont"]
    if "logits" in encoded:
        frame["kl_disc"] = kl_disc(encoded["logits"])
        frame["kl_total"] = frame["kl_cont"] + frame["kl_disc"]
    return frame, encoded, x_hat


class LatentScorer:
    """The latent-space scores of one model, fitted on its own class's training jets."""

    def __init__(self, model: Any, mahalanobis: Mahalanobis, mixture: MixtureDensity,
                 combined: Combined):
        self.model, self.mahalanobis, self.mixture = model, mahalanobis, mixture
        self.combined = combined

    @classmethod
    def fit(cls, model: Any, train_images: np.ndarray, seed: int = 0) -> LatentScorer:
        """Densities of the codes of ``train_images`` and the standardization of the
        combined score on them."""
        train, encoded, _ = model_scores(model, train_images)
        mahalanobis = fit_scorer("mahalanobis", encoded)
        mixture = fit_scorer("mixture", encoded, seed, MIXTURE_COMPONENTS)
        train["mixture"] = mixture.score(latent_features(encoded))
        return cls(model, mahalanobis, mixture,
                   Combined.fit({"mixture": train["mixture"], "bce": train["bce"]}))

    def to_dict(self) -> dict:
        """Everything fitted, as JSON-able data (:meth:`from_dict` reads it back)."""
        return {"mahalanobis": self.mahalanobis.to_dict(), "mixture": self.mixture.to_dict(),
                "combined": self.combined.to_dict()}

    @classmethod
    def from_dict(cls, model: Any, data: Mapping[str, Any]) -> LatentScorer:
        """The scorer :meth:`to_dict` wrote, for ``model``."""
        return cls(model, from_dict(data["mahalanobis"]), from_dict(data["mixture"]),
                   Combined.from_dict(data["combined"]))

    def scores(self, images: np.ndarray) -> tuple[pd.DataFrame, dict[str, np.ndarray],
                                                  np.ndarray]:
        """Every score of :data:`SCORES` the model has (one row per image), the encoder
        outputs and the reconstructions."""
        frame, encoded, x_hat = model_scores(self.model, images)
        features = latent_features(encoded)
        frame["sum_mu2"] = sum_squared_means(encoded)
        frame["mahalanobis"] = self.mahalanobis.score(features)
        frame["mixture"] = self.mixture.score(features)
        frame["mixture+bce"] = self.combined.score(frame)
        return frame[[c for c in SCORES if c in frame]], encoded, x_hat


def stacked_auc(background: Any, signal: Any) -> float:
    """AUC of one score, the signal jets against the background jets."""
    return auc(*stack(background, signal))


def latent_usage(model: Any, background: tuple, signal: tuple) -> dict[str, float]:
    """How much the latent carries, from ``(images, encoded, reconstructions)`` of the
    background (training-class) and signal test jets: mean KL terms on the background, the
    purity of the most likely category over both classes (0.5 when categories ignore the
    class, 1 when each holds one class) and the reconstruction spread of the background
    (:func:`reconstruction_spread`, percent)."""
    images, encoded, x_hat = background
    out: dict[str, float] = {}
    if "mu" in encoded:
        out["kl_cont"] = float(np.mean(kl_cont(encoded["mu"], encoded["logvar"])))
    if "logits" in encoded:
        out["kl_disc"] = float(np.mean(kl_disc(encoded["logits"])))
        out["purity"] = category_purity(encoded["logits"], signal[1]["logits"])
    out["recon_spread"] = reconstruction_spread(model.target(images), x_hat)
    return out


def category_purity(background_logits: np.ndarray, signal_logits: np.ndarray) -> float:
    """Fraction of jets in the majority class of their most likely category."""
    k = background_logits.shape[1]
    counts = np.stack([np.bincount(np.argmax(background_logits, 1), minlength=k),
                       np.bincount(np.argmax(signal_logits, 1), minlength=k)])
    return float(counts.max(axis=0).sum() / counts.sum())


def evaluate(model: Any, train_images: np.ndarray, test: Mapping[str, Mapping[str, np.ndarray]],
             trained_on: str, seed: int = 0) -> dict[str, Any]:
    """Every score of a model on the test jets ``test[process] = {"images", "jet_mass"}``.

    Trained on QCD: ``auc_top``, ``auc_w``, ``auc_window`` (top vs QCD with 140-200 GeV
    masses), ``js10`` and ``js1`` (QCD mass sculpting at 10% and 1% QCD efficiency) per
    score. Trained on top: ``auc_inverted`` (QCD jets as the anomaly among top jets).
    """
    scorer = LatentScorer.fit(model, train_images, seed)
    other = "top" if trained_on == "qcd" else "qcd"
    wanted = [p for p in test if trained_on == "qcd" or p != "w"]
    passes = {p: scorer.scores(test[p]["images"]) for p in wanted}
    frames = {p: passes[p][0] for p in wanted}
    result: dict[str, Any] = {"scores": {}, "usage": latent_usage(
        model, (test[trained_on]["images"], *passes[trained_on][1:]), passes[other])}
    for name in frames[trained_on].columns:
        if trained_on == "top":
            result["scores"][name] = {"auc_inverted": stacked_auc(frames["top"][name],
                                                                   frames["qcd"][name])}
            continue
        row = {"auc_top": stacked_auc(frames["qcd"][name], frames["top"][name])}
        if "w" in frames:
            row["auc_w"] = stacked_auc(frames["qcd"][name], frames["w"][name])
        row.update(_mass_metrics(frames["qcd"][name].to_numpy(), frames["top"][name].to_numpy(),
                                 test["qcd"]["jet_mass"], test["top"]["jet_mass"]))
        result["scores"][name] = row
    return result


def _mass_metrics(qcd: np.ndarray, top: np.ndarray, qcd_mass: np.ndarray,
                  top_mass: np.ndarray) -> dict[str, float]:
    values, labels = np.r_[qcd, top], np.r_[np.zeros(len(qcd)), np.ones(len(top))]
    js = sculpting(qcd, qcd_mass)
    return {"auc_window": auc_in_window(values, labels, np.r_[qcd_mass, top_mass], TOP_WINDOW),
            "js10": js[0.1], "js1": js[0.01]}


def mass_baselines(test: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """The jet mass (one-sided: heavier is more anomalous) and the top-mass window
    ``-|m - 172.5 GeV|`` (signal-specific) as scores, in the layout of :func:`evaluate`."""
    out = {}
    for name, score in (("jet mass", lambda m: np.asarray(m, np.float64)),
                        ("mass window (top-specific)", mass_window_score)):
        s = {p: pd.Series(score(d["jet_mass"])) for p, d in test.items()}
        row = {"auc_top": stacked_auc(s["qcd"], s["top"]),
               "auc_inverted": stacked_auc(s["top"], s["qcd"])}
        if "w" in s:
            row["auc_w"] = stacked_auc(s["qcd"], s["w"])
        row.update(_mass_metrics(s["qcd"].to_numpy(), s["top"].to_numpy(),
                                 test["qcd"]["jet_mass"], test["top"]["jet_mass"]))
        out[name] = row
    return out
