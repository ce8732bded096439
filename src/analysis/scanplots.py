"""Figures of chapter 7: the regularization scan and the mass sculpting of a score cut, in the
book's style (:mod:`src.style`: page-wide, no font below its minimum)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import style
from .massdep import MASS_BINS
from .plots import COLORS

#: Legend names of the scores.
SCORE_TITLES = {"kl_total": "KL total", "mixture": "mixture density"}
#: AUCs of the scan plot: metric, label and colour.
TASKS = (("auc_top", "top vs QCD", COLORS["top"]), ("auc_w", "W vs QCD", COLORS["w"]),
         ("auc_inverted", "inverted: QCD vs top", COLORS["qcd"]))


def _grid(axes, ncols: int, height: float = 3.4) -> np.ndarray:
    if axes is None:
        _, axes = plt.subplots(1, ncols, figsize=style.figsize(height), layout="constrained")
    return np.atleast_1d(axes)


def beta_scan(table: pd.DataFrame, usage: pd.DataFrame, recipes: Mapping[str, float],
              scores: Sequence[str] = ("kl_total", "mixture"), axes=None):
    """Left: AUC of each task against beta for each score (mean and seed standard
    deviation); right: mean KL discrete [nats] and category purity against beta.

    ``table`` is :func:`src.analysis.scan.table`, ``usage`` its :func:`usage_table`,
    ``recipes`` maps the recipe names of the scan to their beta.
    """
    axes = _grid(axes, 2, height=4.4)
    betas = np.array(list(recipes.values()))
    styles = ("-o", "--s", ":^")
    for score, fmt in zip(scores, styles, strict=False):
        for metric, label, colour in TASKS:
            rows = [table.loc[(r, score)] for r in recipes]
            mean = np.array([row[metric] for row in rows])
            std = np.array([row[f"{metric}_std"] for row in rows])
            axes[0].errorbar(betas, mean, yerr=std, fmt=fmt, color=colour, capsize=3,
                             label=f"{label}, {SCORE_TITLES.get(score, score)}")
    axes[0].axhline(0.5, color="grey", lw=0.8)
    axes[0].set(xscale="log", xlabel=r"$\beta$", ylabel="AUC", ylim=(0, 1))
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, labels, loc="outside lower center", ncol=2)
    names = list(recipes)
    axes[1].plot(betas, usage.loc[names, "kl_disc"], "-o", color="black", label="KL discrete")
    axes[1].set(xscale="log", yscale="log", xlabel=r"$\beta$", ylabel="KL discrete [nats]")
    twin = axes[1].twinx()
    twin.plot(betas, usage.loc[names, "purity"], "--s", color=COLORS["top"],
              label="category purity")
    twin.set(ylabel="category purity", ylim=(0.45, 1.0))
    lines = axes[1].get_lines() + twin.get_lines()
    axes[1].legend(lines, [line.get_label() for line in lines], loc="upper right")
    return axes


def sculpting(mass: np.ndarray, scores: Mapping[str, np.ndarray],
              efficiencies: Sequence[float] = (0.1, 0.01), axes=None):
    """QCD jet-mass distribution before and after the cuts that keep ``efficiencies`` of
    the QCD jets, one panel per score (normalized histograms)."""
    axes = _grid(axes, len(scores), height=3.0)
    for ax, (name, values) in zip(axes, scores.items(), strict=True):
        ax.hist(mass, MASS_BINS, density=True, histtype="stepfilled", color="lightgrey",
                label="all QCD")
        for eff, ls in zip(efficiencies, ("-", "--"), strict=False):
            kept = values >= np.quantile(values, 1 - eff)
            ax.hist(mass[kept], MASS_BINS, density=True, histtype="step", ls=ls, lw=1.5,
                    label=f"{eff:.0%} kept")
        ax.set(title=name, xlabel="jet mass [GeV]")
    axes[0].set_ylabel("density [1/GeV]")
    axes[0].legend()
    return axes
