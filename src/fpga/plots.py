"""Figures of the FPGA chapter, in the book's style (:mod:`src.style`).

Every function takes ``ax=None`` (one panel) or ``axes=None`` (several panels: a new figure at
most a page wide when None, else a sequence of that many axes) and returns its artists. Wide
figures stack their panels in rows rather than shrink them.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import style
from ..analysis.plots import class_histograms
from .devices import CLOCK_NS
from .feasibility import BUDGETS, TARGETS, Targets, Tuned

#: Unit of the student's score on the axes.
SCORE_UNIT = "[standardized log KL]"
#: Marker of each implementation in :func:`design_space`: (io_type, strategy, all pixels).
IMPLEMENTATIONS = {("io_parallel", "Latency", False): ("o", "io_parallel, one pixel per pass"),
                   ("io_parallel", "Latency", True): ("^", "io_parallel, all pixels per pass"),
                   ("io_parallel", "Resource", False): ("D", "io_parallel, Resource strategy"),
                   ("io_stream", "Latency", False): ("s", "io_stream")}


def _check(axes, n: int) -> np.ndarray:
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if len(axes) != n:
        raise ValueError(f"expected {n} axes, got {len(axes)}")
    return axes


def emulation_agreement(reference: np.ndarray, emulated: np.ndarray, labels: np.ndarray,
                        axes=None) -> list:
    """Three panels: emulated against QKeras score per jet and their difference (top row of a
    new figure), and the emulated score of QCD (label 0) and top (label 1) jets (below)."""
    if axes is None:
        fig = plt.figure(figsize=style.figsize(5.6), layout="constrained")
        grid = fig.add_gridspec(2, 2)
        axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]),
                fig.add_subplot(grid[1, :])]
    axes = _check(axes, 3)
    low, high = float(np.min(reference)), float(np.max(reference))
    artists = [*axes[0].plot(reference, emulated, ".", ms=2, alpha=0.4),
               *axes[0].plot([low, high], [low, high], "k--", lw=1, label="equal")]
    axes[0].set_xlabel(f"QKeras score {SCORE_UNIT}")
    axes[0].set_ylabel(f"emulated score\n{SCORE_UNIT}")
    axes[0].legend()
    artists.append(axes[1].hist(emulated - reference, bins=80, histtype="step", color="k")[2])
    axes[1].set_xlabel(f"emulated − QKeras {SCORE_UNIT}")
    axes[1].set_ylabel("test jets per bin")
    axes[1].set_yscale("log")
    values = {name: emulated[labels == label] for label, name in enumerate(("qcd", "top"))}
    artists += class_histograms(values, np.linspace(low, high, 60),
                                f"emulated student score {SCORE_UNIT}", ax=axes[2])
    return artists


def _reuse_colors(reuse_factors) -> dict[int, tuple]:
    """One colour of the book's colour map per reuse factor, dark for 1, light for the largest."""
    values = sorted({int(r) for r in reuse_factors})
    return {r: plt.get_cmap(style.CMAP)(0.85 * i / max(len(values) - 1, 1))
            for i, r in enumerate(values)}


def design_space(scans: Mapping[str, pd.DataFrame], tuned: Mapping[tuple[str, str], Tuned],
                 targets: Targets = TARGETS, clock_period: float = CLOCK_NS, axes=None) -> list:
    """One panel per model, one above the other: estimated latency against the larger of the
    DSP and LUT shares for every setting of its scan
    (:func:`src.fpga.feasibility.scan_models`), the marker giving the implementation
    (:data:`IMPLEMENTATIONS`) and the colour the reuse factor; the per-layer designs of
    :func:`src.fpga.feasibility.tune_models` as large black markers; dotted lines at the latency
    targets, dashed at the resource budget and 100%. One legend for the figure, below it."""
    if axes is None:
        _, axes = plt.subplots(len(scans), 1, figsize=style.figsize(2.9 * len(scans) + 1.3),
                               sharex=True, layout="constrained")
    axes = _check(axes, len(scans))
    colors = _reuse_colors(pd.concat(list(scans.values()))["reuse_factor"])
    tuned_markers = dict(zip(BUDGETS, ("*", "P"), strict=True))
    artists = []
    for ax, (name, table) in zip(axes, scans.items(), strict=True):
        share = table[["DSP_%", "LUT_%"]].max(axis=1)
        all_pixels = (table["io_type"] == "io_parallel") & table["parallelization_factor"].isna()
        for i, row in table.iterrows():
            marker, _ = IMPLEMENTATIONS[row["io_type"], row["strategy"], bool(all_pixels[i])]
            resource = row["strategy"] == "Resource"  # hollow: it sits on the Latency point
            artists.append(ax.scatter(row["latency_ns"], share[i], marker=marker,
                                      s=70 if resource else 36, linewidths=1.2,
                                      facecolors="none" if resource else colors[int(row["reuse_factor"])],
                                      edgecolors=colors[int(row["reuse_factor"])]))
        for budget_name, marker in tuned_markers.items():
            choice = tuned.get((name, budget_name))
            if choice is not None:
                total = choice[1].loc["total"]
                artists.append(ax.scatter(total["latency_ns"], max(total["DSP_%"], total["LUT_%"]),
                                          marker=marker, s=200, color="k", zorder=3))
        for x in (targets.stretch_latency_ns, targets.latency_ns):
            artists.append(ax.axvline(x, color="grey", ls=":", lw=1))
            text = f"{x / 1000:g} µs" if x >= 1000 else f"{x:g} ns"
            artists.append(ax.text(x, 0.03, text, rotation=90, va="bottom", ha="right",
                                   fontsize=style.MIN_FONT_PT, transform=ax.get_xaxis_transform()))
        for y in (targets.resource_pct, 100):
            artists.append(ax.axhline(y, color="grey", ls="--", lw=1))
        ax.set(xscale="log", yscale="log", title=f"{name} (estimates)",
               ylabel="max(DSP, LUT) [% of U250]")
    axes[-1].set_xlabel(f"estimated latency at {1000 / clock_period:.0f} MHz [ns]")
    handles = [Line2D([], [], ls="", marker=m, color="grey", mfc="none" if "Resource" in label
                      else "grey", label=label) for m, label in IMPLEMENTATIONS.values()]
    handles += [Line2D([], [], ls="", marker="o", color=c, label=f"reuse factor {r}")
                for r, c in colors.items()]
    handles += [Line2D([], [], ls="", marker=m, ms=12, color="k", label=f"tuned per layer: {b}")
                for b, m in tuned_markers.items()]
    axes[0].figure.legend(handles=handles, loc="outside lower center", ncol=2)
    return artists


def kl_differences(relative: Mapping[str, np.ndarray], target: float) -> plt.Figure:
    """Histograms of the per-jet relative KL-total difference to QKeras, one per firmware
    (``relative`` by label), log-spaced (jets with no difference counted in the legend),
    with the median target as a vertical line."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    values = np.concatenate(list(relative.values()))
    floor = max(float(values[values > 0].min()), 1e-9)
    bins = np.logspace(np.log10(floor), np.log10(max(values.max(), 10 * floor)), 60)
    for (label, rel), ls in zip(relative.items(), ("-", "--"), strict=False):
        ax.hist(rel[rel > 0], bins=bins, histtype="step", lw=1.5, ls=ls,
                label=f"{label} (median {100 * np.median(rel):.2f}%, "
                      f"{int(np.sum(rel == 0)):,} jets equal)")
    ax.axvline(target, color="k", lw=1, ls=":", label=f"target median {100 * target:.1f}%")
    ax.set_xscale("log")
    ax.set_xlabel("|KL total, firmware - QKeras| / KL total, QKeras")
    ax.set_ylabel("test jets")
    ax.legend()
    return fig
