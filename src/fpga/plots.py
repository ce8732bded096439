"""Figures of the FPGA chapter, in the book's style (:func:`src.analysis.plots.set_style`).

Every function takes ``ax=None`` (one panel) or ``axes=None`` (several panels: a new figure
when None, else a sequence of that many axes) and returns its artists.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.plots import class_histograms
from .devices import CLOCK_NS
from .feasibility import BUDGETS, TARGETS, Targets, Tuned

STUDENT_SCORE = "student score [standardized log KL]"


def _panels(axes, n: int, figsize: tuple[float, float], **kw) -> np.ndarray:
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=figsize, **kw)
        fig.set_layout_engine("tight")
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if len(axes) != n:
        raise ValueError(f"expected {n} axes, got {len(axes)}")
    return axes


def emulation_agreement(reference: np.ndarray, emulated: np.ndarray, labels: np.ndarray,
                        axes=None) -> list:
    """Three panels: emulated against QKeras score per jet, their difference, and the
    emulated score of QCD (label 0) and top (label 1) jets."""
    axes = _panels(axes, 3, (16, 4.6))
    low, high = float(np.min(reference)), float(np.max(reference))
    artists = [*axes[0].plot(reference, emulated, ".", ms=2, alpha=0.4),
               *axes[0].plot([low, high], [low, high], "k--", lw=1, label="equal")]
    axes[0].set_xlabel(f"QKeras {STUDENT_SCORE}")
    axes[0].set_ylabel(f"hls4ml C++ emulation {STUDENT_SCORE}")
    axes[0].legend()
    artists.append(axes[1].hist(emulated - reference, bins=80, histtype="step", color="k")[2])
    axes[1].set_xlabel("emulated minus QKeras score [standardized log KL]")
    axes[1].set_ylabel("test jets per bin")
    axes[1].set_yscale("log")
    values = {name: emulated[labels == label] for label, name in enumerate(("qcd", "top"))}
    artists += class_histograms(values, np.linspace(low, high, 60),
                                f"hls4ml C++ emulation {STUDENT_SCORE}", ax=axes[2])
    return artists


def design_space(scans: Mapping[str, pd.DataFrame], tuned: Mapping[tuple[str, str], Tuned],
                 targets: Targets = TARGETS, clock_period: float = CLOCK_NS, axes=None) -> list:
    """One panel per model: estimated latency against the larger of the DSP and LUT shares
    for every setting of its scan (:func:`src.fpga.feasibility.scan_models`), annotated with
    the reuse factor, and the per-layer designs of :func:`src.fpga.feasibility.tune_models`
    as large markers; dotted lines at the latency targets, dashed at the budget and 100%."""
    axes = _panels(axes, len(scans), (15, 5.2), sharey=True)
    markers = {"io_parallel": "o", "io_stream": "s"}
    artists = []
    for ax, (name, table) in zip(axes, scans.items(), strict=True):
        share = table[["DSP_%", "LUT_%"]].max(axis=1)
        for (io_type, strategy), rows in table.groupby(["io_type", "strategy"]):
            artists.append(ax.scatter(rows["latency_ns"], share[rows.index],
                                      marker=markers[io_type], label=f"{io_type}, {strategy}"))
        for i, row in table.iterrows():
            pixels = ("" if row["io_type"] == "io_stream" or pd.notna(row["parallelization_factor"])
                      else ", all pixels")
            artists.append(ax.annotate(f"R={row['reuse_factor']}{pixels}",
                                       (row["latency_ns"], share[i]), fontsize=6,
                                       xytext=(4, 3), textcoords="offset points"))
        for budget_name, marker in zip(BUDGETS, ("*", "P"), strict=True):
            choice = tuned.get((name, budget_name))
            if choice is not None:
                total = choice[1].loc["total"]
                artists.append(ax.scatter(total["latency_ns"], max(total["DSP_%"], total["LUT_%"]),
                                          marker=marker, s=220, color="k",
                                          label=f"tuned per layer: {budget_name}"))
        for x in (targets.stretch_latency_ns, targets.latency_ns):
            artists.append(ax.axvline(x, color="grey", ls=":", lw=1))
            text = f"{x / 1000:g} µs" if x >= 1000 else f"{x:g} ns"
            artists.append(ax.text(x, 0.02, text, rotation=90, va="bottom", ha="right",
                                   fontsize=8, transform=ax.get_xaxis_transform()))
        for y in (targets.resource_pct, 100):
            artists.append(ax.axhline(y, color="grey", ls="--", lw=1))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"estimated latency at {1000 / clock_period:.0f} MHz [ns]")
        ax.set_title(f"{name} (estimates)")
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("estimated max(DSP, LUT) share of the U250 [%]")
    return artists


def kl_differences(relative: Mapping[str, np.ndarray], target: float) -> plt.Figure:
    """Histograms of the per-jet relative KL-total difference to QKeras, one per firmware
    (``relative`` by label), log-spaced (jets with no difference counted in the legend),
    with the median target as a vertical line."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    values = np.concatenate(list(relative.values()))
    floor = max(float(values[values > 0].min()), 1e-9)
    bins = np.logspace(np.log10(floor), np.log10(max(values.max(), 10 * floor)), 60)
    for (label, rel), style in zip(relative.items(), ("-", "--"), strict=False):
        ax.hist(rel[rel > 0], bins=bins, histtype="step", lw=1.5, ls=style,
                label=f"{label} (median {100 * np.median(rel):.2f}%, "
                      f"{int(np.sum(rel == 0)):,} jets equal)")
    ax.axvline(target, color="k", lw=1, ls=":", label=f"target median {100 * target:.1f}%")
    ax.set_xscale("log")
    ax.set_xlabel("|KL total, firmware - QKeras| / KL total, QKeras")
    ax.set_ylabel("test jets")
    ax.legend()
    return fig
