"""How much of an anomaly score is the jet mass: the AUC inside a mass window, the
mass-window baseline, and the sculpting of the QCD mass distribution by a score cut."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import auc

#: Top-quark mass [GeV], the centre of the signal-specific mass-window baseline.
TOP_MASS = 172.5
#: The window where the jet mass alone separates top from QCD least (both classes present).
TOP_WINDOW = (140.0, 200.0)
#: Jet-mass bins [GeV] of the sculpting measure.
MASS_BINS = np.linspace(0.0, 300.0, 31)


def mass_window_score(mass: Any, centre: float = TOP_MASS) -> np.ndarray:
    """``-|m - centre|``: a signal-specific baseline (it must know the signal's mass)."""
    return -np.abs(np.asarray(mass, np.float64) - centre)


def auc_in_window(scores: Any, labels: Any, mass: Any,
                  window: tuple[float, float] = TOP_WINDOW) -> float:
    """AUC of ``scores`` using only the jets with ``window[0] <= mass < window[1]``."""
    scores, labels, mass = (np.asarray(a) for a in (scores, labels, mass))
    if not (len(scores) == len(labels) == len(mass)):
        raise ValueError(f"{len(scores)} scores, {len(labels)} labels, {len(mass)} masses")
    inside = (mass >= window[0]) & (mass < window[1])
    if not inside.any():
        raise ValueError(f"no jet with mass in [{window[0]}, {window[1]}) GeV")
    return auc(scores[inside], labels[inside])


def js_divergence(p: Any, q: Any) -> float:
    """Jensen-Shannon divergence in bits (0 for equal histograms, 1 for disjoint ones);
    ``p`` and ``q`` are histograms, normalized here."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("js_divergence needs two non-empty histograms of the same binning")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def sculpting(scores: Any, mass: Any, efficiencies: Sequence[float] = (0.1, 0.01),
              bins: np.ndarray = MASS_BINS) -> dict[float, float]:
    """Jensen-Shannon divergence between the mass histogram of background jets passing
    the cut that keeps a fraction ``eff`` of them and the histogram of all of them."""
    scores, mass = np.asarray(scores, np.float64), np.asarray(mass, np.float64)
    if len(scores) != len(mass) or len(scores) == 0:
        raise ValueError(f"{len(scores)} scores but {len(mass)} masses")
    everything = np.histogram(mass, bins)[0]
    out = {}
    for eff in efficiencies:
        if not 0.0 < eff <= 1.0:
            raise ValueError(f"efficiency must be in (0, 1], got {eff}")
        passed = scores >= np.quantile(scores, 1.0 - eff)
        out[eff] = js_divergence(np.histogram(mass[passed], bins)[0], everything)
    return out
