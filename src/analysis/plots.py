"""One plotting style for the book and every figure of it.

Every function takes ``ax=None`` (one panel: the current axes when None) or ``axes=None``
(several panels: a new figure of the book's size when None, else an array of that shape)
and returns its artists, so a test can draw on small fake data and inspect the result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from ..config import N_PIXELS, PIXEL_SIZE
from .training import METRIC_NAMES, history_metrics

#: Colours of the samples, used in every chapter.
COLORS = {"qcd": "#1f77b4", "top": "#d62728", "w": "#2ca02c"}
LABELS = {"qcd": "QCD", "top": "top", "w": "W"}

#: Axis labels of the anomaly scores of :func:`src.analysis.scores.score_images`, with units.
SCORE_LABELS = {"kl_cont": "KL continuous [nats]", "kl_disc": "KL discrete [nats]",
                "kl_total": "KL total [nats]", "bce": "BCE (summed pixels)",
                "mse": "squared error (summed pixels)", "dice": "Dice loss", "total": "BCE + Dice"}

#: Jet kinematics of chapter 1: field, histogram bins and axis label.
KINEMATICS = (("jet_pt", np.linspace(550, 650, 41), r"jet $p_T$ [GeV]"),
              ("jet_mass", np.linspace(0, 300, 61), "jet mass [GeV]"),
              ("n_constituents", np.arange(0, 161, 4), "number of constituents"))


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


def _grid(axes, shape: tuple[int, int], figsize: tuple[float, float], **kw) -> np.ndarray:
    """``axes`` as a 2-D array of ``shape``, or the axes of a new figure of ``figsize``."""
    if axes is None:
        _, axes = plt.subplots(*shape, figsize=figsize, squeeze=False, **kw)
    return np.asarray(axes).reshape(shape)


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
               log: bool = True, reference_fpr: float | None = 0.1, title: str | None = None):
    """Background rejection 1/FPR against signal efficiency (TPR), one line per score, then
    the random tagger's line."""
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
    if title:
        ax.set_title(title)
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


# --------------------------------------------------------------------------- chapter 1: samples


def mean_images(jets: Mapping[str, Mapping[str, np.ndarray]], axes=None):
    """Average raw image (pixel pT in GeV) of each sample (field ``images``), titled with its
    brightest pixel and its total inside the window; one panel per sample."""
    axes = _grid(axes, (1, len(jets)), (13, 3.6))
    artists = []
    for ax, (process, data) in zip(axes.flat, jets.items(), strict=True):
        mean = data["images"].mean(axis=0)
        artists.append(jet_image(
            mean, ax=ax, vmin=1e-3,
            title=f"{LABELS.get(process, process)}: mean of {len(data['images'])} jets\n"
                  f"max pixel {mean.max():.1f} GeV, sum {mean.sum():.0f} GeV"))
    axes[0, 0].figure.tight_layout()
    return artists


def example_jets(jets: Mapping[str, Mapping[str, np.ndarray]], n: int = 2, axes=None):
    """The first ``n`` raw images of each sample (one column per sample), titled with the jet
    mass and the number of constituents (fields ``images``, ``jet_mass``, ``n_constituents``)."""
    axes = _grid(axes, (n, len(jets)), (13, 3.2 * n))
    artists = []
    for col, (process, data) in enumerate(jets.items()):
        for row in range(n):
            artists.append(jet_image(
                data["images"][row], ax=axes[row, col], vmin=0.1,
                title=f"{LABELS.get(process, process)} jet {row}: "
                      f"$m$ = {data['jet_mass'][row]:.0f} GeV, "
                      f"{data['n_constituents'][row]} constituents"))
    axes[0, 0].figure.tight_layout()
    return artists


def kinematics(jets: Mapping[str, Mapping[str, np.ndarray]], axes=None):
    """Normalized distributions of the jet pT, mass and constituent count (:data:`KINEMATICS`)
    of every sample, one panel per quantity; a list of :func:`class_histograms` results."""
    axes = _grid(axes, (1, len(KINEMATICS)), (13, 3.4))
    artists = [class_histograms({p: data[field] for p, data in jets.items()}, bins, label, ax=ax)
               for ax, (field, bins, label) in zip(axes.flat, KINEMATICS, strict=True)]
    axes[0, 0].figure.tight_layout()
    return artists


# --------------------------------------------------------------------------- chapter 2: training


def training_curves(history: pd.DataFrame, axes=None):
    """Training and validation value of every metric of the history per epoch (KL terms on a
    log scale), then the learning rate; the lines in drawing order."""
    metrics = history_metrics(history)
    axes = _grid(axes, (2, 4), (14, 6))
    epochs = np.arange(1, len(history) + 1)
    lines = []
    for ax, metric in zip(axes.flat, metrics, strict=False):
        lines += ax.plot(epochs, history[metric], "o-", label="training")
        lines += ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation")
        ax.set_ylabel(METRIC_NAMES[metric])
        if metric.startswith("kl"):
            ax.set_yscale("log")
    ax = axes.flat[len(metrics)]
    lines += ax.plot(epochs, history["lr"], "o-", color="k", label="learning rate")
    ax.set_ylabel("learning rate")
    ax.set_yscale("log")
    for ax in axes.flat[: len(metrics) + 1]:
        ax.set_xlabel("epoch")
        ax.legend()
    for ax in axes.flat[len(metrics) + 1:]:
        ax.axis("off")
    axes[0, 0].figure.tight_layout()
    return lines


def weight_distributions(kernels: Mapping[str, np.ndarray], axes=None):
    """Kernel weights per layer: density histograms (left) and min-to-max whiskers (right)."""
    axes = _grid(axes, (1, 2), (14, 4.5), gridspec_kw={"width_ratios": [1, 2]})
    artists = kernel_histograms(kernels, ax=axes[0, 0], density=True)
    axes[0, 0].legend(fontsize=6, ncol=2)
    artists += kernel_whiskers({"float": kernels}, ax=axes[0, 1])
    axes[0, 0].figure.tight_layout()
    return artists


def reconstructions(images: np.ndarray, reconstructed: np.ndarray, names: Sequence[str],
                    axes=None):
    """Unit-sum input images (top row) above their reconstructions (bottom row); ``names``
    gives each column's class, and inputs are numbered within their class."""
    axes = _grid(axes, (2, len(images)), (10 / 3 * len(images), 5.8))
    seen: Counter[str] = Counter()
    artists = []
    for i, (image, output, name) in enumerate(zip(images, reconstructed, names, strict=True)):
        artists.append(jet_image(image, ax=axes[0, i], vmin=1e-4, unit="",
                                 title=f"{name} test jet {seen[name]} (input)"))
        artists.append(jet_image(output, ax=axes[1, i], vmin=1e-4, unit="",
                                 title=f"{name} reconstruction"))
        seen[name] += 1
    axes[0, 0].figure.tight_layout()
    return artists


def latent_path(images: np.ndarray, floor: float = 1e-4, axes=None):
    """Decoded unit-sum images along a path through the latent space, one panel per step, on
    one logarithmic colour scale from ``floor`` (white below it) to 1."""
    axes = _grid(axes, (1, len(images)), (2.2 * len(images), 2.6))
    artists = []
    for step, (ax, image) in enumerate(zip(axes.flat, images, strict=True)):
        artists.append(ax.imshow(np.where(image > floor, image, np.nan), origin="lower",
                                 norm=LogNorm(floor, 1)))
        ax.set_title(f"step {step}", fontsize=8)
        ax.set_xlabel(r"$\eta'$ bin")
        ax.set_ylabel(r"$\phi'$ bin")
        ax.grid(False)
    fig = axes[0, 0].figure
    fig.tight_layout()
    bar = fig.colorbar(artists[-1], ax=list(axes.flat), label="pixel $p_T$ / jet $p_T$",
                       fraction=0.02)
    return artists, bar


def prior_samples(images: np.ndarray, axes=None):
    """Unit-sum images decoded from prior draws, one panel each."""
    axes = _grid(axes, (1, len(images)), (10 / 3 * len(images), 3))
    artists = [jet_image(image, ax=ax, vmin=1e-4, unit="", title=f"prior sample {i}")
               for i, (ax, image) in enumerate(zip(axes.flat, images, strict=True))]
    axes[0, 0].figure.tight_layout()
    return artists


# --------------------------------------------------------------------------- chapter 3: latents

#: Titles of the embedding methods of :func:`src.analysis.latent.embed`.
METHOD_TITLES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}


def _by_class(ax, x: np.ndarray, y: np.ndarray, labels: np.ndarray, classes: Sequence[str],
              counts: bool = False) -> list:
    """One scatter per class (label i is ``classes[i]``), in the class colours."""
    artists = []
    for label, process in enumerate(classes):
        sel = labels == label
        name = LABELS.get(process, process) + (f" ({sel.sum()} jets)" if counts else "")
        artists.append(ax.scatter(x[sel], y[sel], s=3, alpha=0.4, color=COLORS.get(process),
                                  label=name, rasterized=True))
    ax.legend(markerscale=4, loc="best")
    return artists


def projections(embedded: Mapping[tuple[str, str], np.ndarray], labels: np.ndarray,
                classes: Sequence[str] = ("qcd", "top"), axes=None):
    """2-D embeddings keyed ``(feature set, method)``: one row per feature set, one column per
    method, points coloured by class; the scatters in drawing order."""
    rows = list(dict.fromkeys(which for which, _ in embedded))
    cols = list(dict.fromkeys(method for _, method in embedded))
    axes = _grid(axes, (len(rows), len(cols)), (5 * len(cols), 4.75 * len(rows)))
    artists = []
    for (which, method), xy in embedded.items():
        ax, title = axes[rows.index(which), cols.index(method)], METHOD_TITLES.get(method, method)
        artists += _by_class(ax, xy[:, 0], xy[:, 1], labels, classes, counts=True)
        ax.set_title(f"{which} latent, {title}")
        ax.set_xlabel(f"{title} 1")
        ax.set_ylabel(f"{title} 2")
    axes[0, 0].figure.tight_layout()
    return artists


def category_bars(occupancy: pd.DataFrame, classes: Sequence[str] = ("qcd", "top"), ax=None,
                  width: float = 0.4):
    """Fraction of each class's jets per most likely category, bars side by side; column i
    of the :func:`src.analysis.latent.category_occupancy` table is class ``classes[i]``."""
    ax = _ax(ax)
    artists = []
    for i, process in enumerate(classes):
        artists.append(ax.bar(occupancy.index + (i - (len(classes) - 1) / 2) * width,
                              occupancy[i], width, color=COLORS.get(process),
                              label=LABELS.get(process, process)))
    ax.set_xticks(occupancy.index)
    ax.set_xlabel("most likely category")
    ax.set_ylabel("fraction of the class's jets")
    ax.legend()
    return artists


def distance_scatter(values: Mapping[str, np.ndarray], distance: np.ndarray, labels: np.ndarray,
                     classes: Sequence[str] = ("qcd", "top"), axes=None):
    """|mu| (log scale) against each per-jet quantity (``{axis label: values}``), one panel
    per quantity, coloured by class."""
    axes = _grid(axes, (1, len(values)), (6.5 * len(values), 4.5))
    artists = []
    for ax, (name, x) in zip(axes.flat, values.items(), strict=True):
        artists += _by_class(ax, np.asarray(x), distance, labels, classes)
        ax.set_xlabel(name)
        ax.set_ylabel(r"$|\mu|$, length of the posterior means")
        ax.set_yscale("log")
    axes[0, 0].figure.tight_layout()
    return artists


# --------------------------------------------------------------------------- chapter 4: scores


def score_histograms(scores: Mapping[str, pd.DataFrame], processes: Sequence[str] = ("qcd", "top"),
                     labels: Mapping[str, str] = SCORE_LABELS, axes=None, bins: int = 60):
    """Normalized distributions of every score of ``labels`` that the frames hold, one panel
    per score and one line per process of ``processes`` (``scores``: {process: score frame}),
    between the 0.5% and 99.5% quantiles of those processes together; counts on a log scale,
    positive KL scores on a logarithmic axis too. Panels left over are switched off."""
    frames = {p: scores[p] for p in processes}
    names = [n for n in labels if all(n in frame for frame in frames.values())]
    axes = _grid(axes, (2, 4), (17, 7.5))
    artists = []
    for ax, name in zip(axes.flat, names, strict=False):
        values = {p: frame[name].to_numpy() for p, frame in frames.items()}
        low, high = np.percentile(np.concatenate(list(values.values())), [0.5, 99.5])
        log = name.startswith("kl") and low > 0
        edges = np.geomspace(low, high, bins) if log else np.linspace(low, high, bins)
        artists.append(class_histograms(values, edges, labels[name], ax=ax))
        if log:
            ax.set_xscale("log")
        ax.set_yscale("log")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes[0, 0].figure.tight_layout()
    return artists
