"""One plotting style for the book; every function takes ``ax=None`` and returns its artists."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from ..config import N_PIXELS, PIXEL_SIZE

#: Colours of the samples, used in every chapter.
COLORS = {"qcd": "#1f77b4", "top": "#d62728", "w": "#2ca02c"}
LABELS = {"qcd": "QCD", "top": "top", "w": "W"}


def set_style() -> None:
    """Book-wide matplotlib settings."""
    mpl.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "image.cmap": "viridis",
    })


def _ax(ax):
    return plt.gca() if ax is None else ax


def jet_image(image: np.ndarray, ax=None, title: str | None = None, log: bool = True,
              unit: str = "GeV", vmin: float | None = None):
    """Show one 40 x 40 image in (eta', phi') coordinates with a colour bar."""
    ax = _ax(ax)
    half_eta, half_phi = N_PIXELS / 2 * PIXEL_SIZE[0], N_PIXELS / 2 * PIXEL_SIZE[1]
    positive = image[image > 0]
    norm = LogNorm(vmin=vmin or (positive.min() if positive.size else 1e-6),
                   vmax=max(image.max(), 1e-6)) if log else None
    shown = np.where(image > 0, image, np.nan) if log else image
    artist = ax.imshow(shown, origin="lower", norm=norm, aspect="auto",
                       extent=(-half_eta, half_eta, -half_phi, half_phi))
    ax.set_xlabel(r"$\eta'$")
    ax.set_ylabel(r"$\phi'$ [rad]")
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=9)
    bar = ax.figure.colorbar(artist, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(f"pixel $p_T$ [{unit}]" if unit else "pixel $p_T$ / jet $p_T$")
    return artist, bar


def class_histograms(values: Mapping[str, np.ndarray], bins, xlabel: str, ax=None,
                     density: bool = True, ylabel: str | None = None):
    """Overlaid step histograms, one per sample, coloured consistently."""
    ax = _ax(ax)
    artists = []
    for name, data in values.items():
        artists.append(ax.hist(data, bins=bins, histtype="step", lw=1.6, density=density,
                               color=COLORS.get(name), label=LABELS.get(name, name))[2])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or ("probability density" if density else "jets"))
    ax.legend()
    return artists


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], ax=None,
               log: bool = True, reference_fpr: float | None = 0.1):
    """Background rejection 1/FPR against signal efficiency (TPR), one line per score."""
    ax = _ax(ax)
    lines = []
    for name, (fpr, tpr) in curves.items():
        keep = fpr > 0
        lines.append(ax.plot(tpr[keep], 1.0 / fpr[keep], label=name, lw=1.5)[0])
    tpr_grid = np.linspace(1e-3, 1, 200)
    lines.append(ax.plot(tpr_grid, 1 / tpr_grid, "k:", lw=1, label="random")[0])
    if reference_fpr:
        ax.axhline(1 / reference_fpr, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("signal efficiency (true positive rate)")
    ax.set_ylabel("background rejection 1 / FPR")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8)
    return lines


def kernel_histograms(kernels: Mapping[str, np.ndarray], ax=None, bins=80,
                      density: bool = False, title: str | None = None):
    """Step histograms of the kernel weights, one line per layer, on a log scale."""
    ax = _ax(ax)
    artists = [ax.hist(w, bins=bins, histtype="step", density=density, label=name)[2]
               for name, w in kernels.items()]
    ax.set_yscale("log")
    ax.set_xlabel("kernel weight")
    ax.set_ylabel("probability density" if density else "weights per bin")
    if title:
        ax.set_title(title)
    return artists


def kernel_whiskers(series: Mapping[str, Mapping[str, np.ndarray]], ax=None):
    """Kernel weights per layer: quartile boxes and whiskers from the minimum to the maximum,
    side by side for every series (e.g. float and quantized) of the same layers."""
    ax = _ax(ax)
    names = list(next(iter(series.values())))
    positions = np.arange(len(names))
    width = 0.8 / len(series)
    artists = []
    for i, (label, kernels) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        parts = ax.boxplot([kernels[n] for n in names], positions=positions + offset,
                           widths=0.9 * width, orientation="horizontal", whis=(0, 100),
                           showfliers=False, patch_artist=True)
        for box in parts["boxes"]:
            box.set(facecolor=f"C{i}", alpha=0.5)
        artists.append(ax.plot([], [], "s", color=f"C{i}", alpha=0.5, label=label)[0])
    ax.set_yticks(positions, names, fontsize=7)
    ax.set_xlabel("kernel weight (whiskers: minimum to maximum)")
    ax.set_ylabel("layer")
    if len(series) > 1:
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series))
    return artists
