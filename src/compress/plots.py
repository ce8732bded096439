"""Figures of the compression chapter, in the book's style (:mod:`src.style`).

Each function draws on the axes it is given (a new figure at most a page wide when ``ax`` /
``axes`` is None) and returns its artists. Figures with several wide panels stack them in
rows rather than shrink them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import style
from ..analysis.metrics import roc_set
from ..analysis.plots import (
    COLORS,
    LABELS,
    kernel_histograms,
    kernel_whiskers,
    layer_groups,
    roc_curves,
)
from ..backend import keras
from .quantize import kernels, largest_weight
from .report import scan_label

#: Line styles of the bit-scan series, in :func:`bit_scan`'s order.
SCAN_STYLES = ("o-", "v--", "^:", "s-.", "d-")


def weight_panels(encoders: Mapping[str, keras.Model], axes: Sequence[Any] | None = None,
                  bins: int = 120):
    """Kernel weights per layer of several encoders (e.g. float and quantized), as their
    layers use them (:func:`src.compress.quantize.kernels`): one panel of histograms per
    encoder, on common bins spanning all weights and coloured by encoder stage
    (:func:`src.analysis.plots.layer_groups`), then one panel of whiskers
    (:func:`src.analysis.plots.kernel_whiskers`) of them all side by side.

    ``axes`` holds ``len(encoders) + 1`` axes (default: a page-wide figure, the histograms
    side by side above the whiskers). Returns the histograms' and the whiskers' artists.
    """
    series = {name: kernels(encoder) for name, encoder in encoders.items()}
    if axes is None:
        n_layers = len(next(iter(series.values())))
        fig = plt.figure(figsize=style.figsize(2.8 + 0.22 * len(encoders) * n_layers),
                         layout="constrained")
        grid = fig.add_gridspec(2, len(encoders), height_ratios=[2.6, 0.22 * len(encoders) * n_layers])
        axes = [fig.add_subplot(grid[0, i]) for i in range(len(encoders))]
        axes.append(fig.add_subplot(grid[1, :]))
    if len(axes) != len(encoders) + 1:
        raise ValueError(f"need {len(encoders) + 1} axes for {len(encoders)} encoders, "
                         f"got {len(axes)}")
    edge = 1.05 * max(largest_weight(weights) for weights in series.values())
    edges = np.linspace(-edge, edge, bins + 1)
    groups = layer_groups(list(next(iter(series.values()))))
    colors = {name: f"C{i}" for i, members in enumerate(groups.values()) for name in members}
    histograms = [kernel_histograms(weights, ax=ax, bins=edges, title=name, colors=colors)
                  for ax, (name, weights) in zip(axes, series.items(), strict=False)]
    axes[0].figure.legend([Line2D([], [], color=f"C{i}") for i in range(len(groups))],
                          [f"{g} ({len(m)} layers)" for g, m in groups.items()],
                          loc="outside upper center", ncol=len(groups))
    return histograms, kernel_whiskers(series, ax=axes[-1], label_size=None)


def bit_scan(scan: pd.DataFrame, float_auc: float, joint_qat_auc: float | None = None, ax=None):
    """KL-total AUC against total bits, one line per series of
    :func:`src.compress.quantize.bit_scans` (trained series first, then by integer bits),
    the float encoder's AUC as a dashed line, chance (0.5) dotted and, when given, the AUC of
    the joint-VAE QAT ``<16,6>`` model (:func:`src.compress.quantize.quantized_reduced`) as a
    star at 16 bits. Without ``ax``, draws on a new page-wide figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=style.figsize(4.2), layout="constrained")
    keys = sorted({(int(e), int(i)) for e, i in zip(scan["epochs"], scan["integer_bits"],
                                                    strict=True)},
                  key=lambda key: (-key[0], key[1]))
    if len(keys) > len(SCAN_STYLES):
        raise ValueError(f"at most {len(SCAN_STYLES)} series, got {len(keys)}")
    lines = []
    for (epochs, integer), fmt in zip(keys, SCAN_STYLES, strict=False):
        part = scan[(scan["epochs"] == epochs) & (scan["integer_bits"] == integer)]
        lines += ax.plot(part["bits"], part["auc"], fmt, label=scan_label(epochs, integer))
    if joint_qat_auc is not None:
        lines += ax.plot([16], [joint_qat_auc], "*", ms=14, color="k",
                         label="joint-VAE QAT <16,6> (table above)")
    lines.append(ax.axhline(float_auc, color="grey", ls="--", lw=1, label="float reduced encoder"))
    lines.append(ax.axhline(0.5, color="grey", ls=":", lw=1, label="random guess"))
    ax.set_xlabel("total bits of kernels, biases and activations")
    ax.set_ylabel("KL-total AUC, top vs QCD")
    ax.set_xticks(sorted(set(scan["bits"])))
    ax.legend(loc="center right")
    return lines


def student_scatter(teacher: np.ndarray, student: np.ndarray, labels: np.ndarray, ax=None):
    """The student's score against the teacher's KL-total [nats] per jet, background
    (label 0, QCD) and signal (label 1, top) coloured as everywhere in the book."""
    ax = plt.gca() if ax is None else ax
    teacher, student, labels = np.asarray(teacher), np.asarray(student), np.asarray(labels)
    artists = [ax.scatter(teacher[labels == value], student[labels == value], s=3, alpha=0.3,
                          color=COLORS[name], label=LABELS[name])
               for value, name in ((0, "qcd"), (1, "top"))]
    ax.set_xscale("log")
    ax.set_xlabel("teacher KL total [nats]")
    ax.set_ylabel("student score\n[standardized log KL]")
    ax.legend(markerscale=4)
    return artists


def student_panels(paired: pd.DataFrame, labels: np.ndarray,
                   references: Mapping[str, np.ndarray] | None = None, axes=None):
    """The student beside its teacher on the same jets (:func:`src.compress.distill.paired_scores`
    frame, ``labels`` 0 for QCD and 1 for top): :func:`student_scatter` on the left, ROC
    curves (:func:`src.analysis.metrics.roc_set`, :func:`src.analysis.plots.roc_curves`) of
    both and of the ``references`` scores below it. ``axes``: two axes (default: a new
    page-wide figure, one panel above the other). Returns the scatter's and the curves'
    artists."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=style.figsize(7.6), layout="constrained",
                               height_ratios=[1, 1.2])
    points = student_scatter(paired["teacher"], paired["student"], labels, ax=axes[0])
    values = {"teacher (full float joint VAE)": paired["teacher"], "student": paired["student"],
              **(references or {})}
    curves = roc_curves(roc_set(values, labels), ax=axes[1])
    return points, curves
