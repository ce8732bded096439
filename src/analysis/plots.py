"""The book's figures, drawn in its one style (:mod:`src.style`).

Every function takes ``ax=None`` (one panel: the current axes when None) or ``axes=None``
(several panels: a new figure at most a page wide when None, else an array of that shape)
and returns its artists, so a test can draw on small fake data and inspect the result.
Images are shown on one logarithmic colour scale per figure with one colour bar, values
below its floor (empty pixels included) in the lowest colour, never as white holes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D

from .. import style
from ..config import N_PIXELS, PIXEL_SIZE
from .training import METRIC_NAMES, history_metrics

#: Colours of the samples, used in every chapter.
COLORS = {"qcd": "#1f77b4", "top": "#d62728", "w": "#2ca02c"}
LABELS = {"qcd": "QCD", "top": "top", "w": "W"}

#: Axis labels of the anomaly scores of :func:`src.analysis.scores.score_images`, with units.
SCORE_LABELS = {"kl_cont": "KL continuous [nats]", "kl_disc": "KL discrete [nats]",
                "kl_total": "KL total [nats]", "bce": "BCE, summed over pixels [nats]",
                "mse": "squared error, mean over pixels", "dice": "Dice loss",
                "total": "BCE + Dice"}

#: Jet kinematics of chapter 1: field, histogram bins and axis label.
KINEMATICS = (("jet_pt", np.linspace(550, 650, 41), r"jet $p_T$ [GeV]"),
              ("jet_mass", np.linspace(0, 300, 61), "jet mass [GeV]"),
              ("n_constituents", np.arange(0, 161, 4), "number of constituents"))

LINEAR_METRICS = ("psnr", "ssim")  # history metrics on a linear axis (the others span decades)


def set_style() -> None:
    """The book's style, :func:`src.style.use` (kept for the chapters that call it here)."""
    style.use()


def _ax(ax):
    return plt.gca() if ax is None else ax


def _grid(axes, shape: tuple[int, int], height: float, **kw) -> np.ndarray:
    """``axes`` as a 2-D array of ``shape``, or the axes of a new page-wide figure of
    ``height`` inches with constrained layout."""
    if axes is None:
        _, axes = plt.subplots(*shape, figsize=style.figsize(height), squeeze=False,
                               layout="constrained", **kw)
    return np.asarray(axes).reshape(shape)


def _off(axes: np.ndarray, used: int) -> None:  # switch off the panels after the first `used`
    for ax in axes.flat[used:]:
        ax.axis("off")


def jet_images(images: Sequence[np.ndarray], titles: Sequence[str], ncols: int = 3,
               floor: float = 1e-4, unit: str = "", axes=None, panel_height: float = 2.1):
    """Images (40 x 40, ``[row, col]`` = (phi', eta')) in a grid of ``ncols`` columns on one
    logarithmic colour scale from ``floor`` to the largest pixel, values below the floor in
    its colour, with one colour bar (pixel pT in ``unit``, or a fraction of the jet pT when
    ``unit`` is empty). Returns the images and the colour bar."""
    nrows = -(-len(images) // ncols)
    axes = _grid(axes, (nrows, ncols), panel_height * nrows + 0.3, sharex=True, sharey=True)
    norm = LogNorm(floor, max(floor * 10, max(float(np.max(i)) for i in images)))
    half_eta, half_phi = N_PIXELS / 2 * PIXEL_SIZE[0], N_PIXELS / 2 * PIXEL_SIZE[1]
    artists = []
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        artists.append(ax.imshow(np.clip(image, floor, None), origin="lower", norm=norm,
                                 aspect="auto", extent=(-half_eta, half_eta, -half_phi, half_phi)))
        ax.set(title=title, xlabel=r"$\eta'$", ylabel=r"$\phi'$ [rad]")
        ax.grid(False)
        ax.label_outer()
    _off(axes, len(images))
    bar = axes[0, 0].figure.colorbar(artists[0], ax=axes, shrink=0.9 if nrows == 1 else 1.0)
    bar.set_label(f"pixel $p_T$ [{unit}]" if unit else "pixel $p_T$ / jet $p_T$")
    return artists, bar


def class_histograms(values: Mapping[str, np.ndarray], bins, xlabel: str, ax=None,
                     density: bool = True, ylabel: str | None = None, legend: bool = True):
    """Overlaid step histograms, one per sample, coloured consistently."""
    ax = _ax(ax)
    artists = []
    for name, data in values.items():
        artists.append(ax.hist(data, bins=bins, histtype="step", lw=1.6, density=density,
                               color=COLORS.get(name), label=LABELS.get(name, name))[2])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or ("probability density" if density else "jets"))
    if legend:
        ax.legend()
    return artists


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], ax=None,
               log: bool = True, reference_fpr: float | None = 0.1, title: str | None = None,
               legend_below: bool = False):
    """Background rejection 1/FPR against signal efficiency (TPR), one line per score, each
    in its own colour and line style (curves that coincide stay visible), then the random
    tagger's line; ``reference_fpr`` draws a grey dashed line at that rejection."""
    ax = _ax(ax)
    lines = []
    for i, (name, (fpr, tpr)) in enumerate(curves.items()):
        keep = fpr > 0
        lines.append(ax.plot(tpr[keep], 1.0 / fpr[keep], label=name, color=f"C{i % 10}",
                             ls=style.LINESTYLES[i % len(style.LINESTYLES)])[0])
    tpr_grid = np.linspace(1e-3, 1, 200)
    lines.append(ax.plot(tpr_grid, 1 / tpr_grid, "k:", lw=1, label="random")[0])
    if reference_fpr:
        ax.axhline(1 / reference_fpr, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("signal efficiency (true positive rate)")
    ax.set_ylabel("background rejection 1 / FPR")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.legend(**({"loc": "upper center", "bbox_to_anchor": (0.5, -0.15), "ncol": 2}
                 if legend_below else {}))
    if title:
        ax.set_title(title)
    return lines


def kernel_histograms(kernels: Mapping[str, np.ndarray], ax=None, bins=80,
                      density: bool = False, title: str | None = None,
                      colors: Mapping[str, str] | None = None):
    """Step histograms of the kernel weights, one line per layer (``colors``: layer -> colour,
    default the colour cycle), on a log scale."""
    ax = _ax(ax)
    artists = [ax.hist(w, bins=bins, histtype="step", density=density, label=name,
                       color=(colors or {}).get(name))[2]
               for name, w in kernels.items()]
    ax.set_yscale("log")
    ax.set_xlabel("kernel weight")
    ax.set_ylabel("probability density" if density else "weights per bin")
    if title:
        ax.set_title(title)
    return artists


def kernel_whiskers(series: Mapping[str, Mapping[str, np.ndarray]], ax=None,
                    label_size: float | None = 7):
    """Kernel weights per layer: quartile boxes and whiskers from the minimum to the maximum,
    side by side for every series (e.g. float and quantized) of the same layers; layer names
    in ``label_size`` points (None: the style's tick size)."""
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
    ax.set_yticks(positions, names, fontsize=label_size)
    ax.set_xlabel("kernel weight (whiskers: minimum to maximum)")
    ax.set_ylabel("layer")
    if len(series) > 1:
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series))
    return artists


# --------------------------------------------------------------------------- chapter 1: samples


def mean_images(jets: Mapping[str, Mapping[str, np.ndarray]], floor: float = 1e-3, axes=None):
    """Average raw image (pixel pT in GeV) of each sample (field ``images``) on one shared
    colour scale, titled with the number of jets, the brightest pixel and the total."""
    means = {p: data["images"].mean(axis=0) for p, data in jets.items()}
    titles = [f"{LABELS.get(p, p)}, {len(jets[p]['images']):,} jets\n"
              f"max {m.max():.3g} GeV, sum {m.sum():.0f} GeV" for p, m in means.items()]
    return jet_images(list(means.values()), titles, ncols=len(means), floor=floor, unit="GeV",
                      axes=axes, panel_height=2.4)


def example_jets(jets: Mapping[str, Mapping[str, np.ndarray]], n: int = 2, floor: float = 0.1,
                 axes=None):
    """The first ``n`` raw images of each sample (one column per sample) on one colour scale,
    titled with the jet mass and the number of constituents (fields ``images``,
    ``jet_mass``, ``n_constituents``)."""
    order = [(row, p) for row in range(n) for p in jets]
    titles = [f"{LABELS.get(p, p)} jet {row}: {jets[p]['jet_mass'][row]:.0f} GeV,\n"
              f"{jets[p]['n_constituents'][row]} constituents" for row, p in order]
    return jet_images([jets[p]["images"][row] for row, p in order], titles, ncols=len(jets),
                      floor=floor, unit="GeV", axes=axes, panel_height=2.3)


def kinematics(jets: Mapping[str, Mapping[str, np.ndarray]], axes=None):
    """Normalized distributions of the jet pT, mass and constituent count (:data:`KINEMATICS`)
    of every sample, one panel per quantity, the legend in the first; a list of
    :func:`class_histograms` results."""
    axes = _grid(axes, (1, len(KINEMATICS)), 2.6)
    return [class_histograms({p: data[field] for p, data in jets.items()}, bins, label, ax=ax,
                             legend=i == 1, ylabel="probability density" if i == 0 else " ")
            for i, (ax, (field, bins, label)) in enumerate(zip(axes.flat, KINEMATICS, strict=True))]


# --------------------------------------------------------------------------- chapter 2: training


def training_curves(history: pd.DataFrame, ncols: int = 3, axes=None):
    """Training and validation value of every metric of the history per epoch, on a log
    axis except :data:`LINEAR_METRICS`, then the learning rate if it changed; one legend for
    the figure. Returns the lines in drawing order."""
    metrics = history_metrics(history)
    show_lr = "lr" in history and history["lr"].nunique() > 1
    n = len(metrics) + show_lr
    axes = _grid(axes, (-(-n // ncols), ncols), 2.0 * -(-n // ncols) + 0.3, sharex=True)
    epochs = np.arange(1, len(history) + 1)
    lines = []
    for ax, metric in zip(axes.flat, metrics, strict=False):
        lines += ax.plot(epochs, history[metric], "o-", ms=4, label="training")
        lines += ax.plot(epochs, history[f"val_{metric}"], "s--", ms=4, label="validation")
        ax.set(title=METRIC_NAMES[metric], yscale="linear" if metric in LINEAR_METRICS else "log")
    if show_lr:
        ax = axes.flat[len(metrics)]
        lines += ax.plot(epochs, history["lr"], "o-", color="k", ms=4, label="learning rate")
        ax.set(title="learning rate", yscale="log")
    for ax in axes.flat[:n]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_tick_params(labelbottom=True)
    _off(axes, n)
    axes[0, 0].figure.legend(handles=lines[:2], loc="outside lower center", ncol=2)
    return lines


def layer_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Encoder layers grouped by stage (``..._b<k>...`` is stage k), the rest as dense heads."""
    groups: dict[str, list[str]] = {}
    for name in names:
        match = re.search(r"_b(\d+)", name)
        groups.setdefault(f"stage {match.group(1)}" if match else "dense heads", []).append(name)
    return groups


def weight_distributions(kernels: Mapping[str, np.ndarray], axes=None):
    """Kernel weights per layer: density histograms coloured by stage (top) and min-to-max
    whiskers per layer (bottom)."""
    axes = _grid(axes, (2, 1), 3.0 + 0.2 * len(kernels), height_ratios=[2.6, 0.2 * len(kernels)])
    groups = layer_groups(list(kernels))
    colors = {name: f"C{i}" for i, members in enumerate(groups.values()) for name in members}
    artists = kernel_histograms(kernels, ax=axes[0, 0], density=True, colors=colors)
    axes[0, 0].legend([Line2D([], [], color=f"C{i}") for i in range(len(groups))],
                      [f"{g} ({len(m)} layers)" for g, m in groups.items()],
                      loc="upper left", bbox_to_anchor=(1.0, 1.0))
    artists += kernel_whiskers({"float": kernels}, ax=axes[1, 0], label_size=None)
    return artists


def reconstructions(images: np.ndarray, reconstructed: np.ndarray, names: Sequence[str],
                    ncols: int = 3, floor: float = 1e-4, axes=None):
    """Unit-sum inputs above their reconstructions, ``ncols`` jets per pair of rows, on one
    colour scale; ``names`` gives each jet's class, and inputs are numbered within it."""
    if len(images) % ncols:
        raise ValueError(f"{len(images)} jets do not fill rows of {ncols}")
    seen = [list(names[:i]).count(name) for i, name in enumerate(names)]
    panels, titles = [], []
    for start in range(0, len(images), ncols):
        chunk = range(start, start + ncols)
        panels += [images[i] for i in chunk] + [reconstructed[i] for i in chunk]
        titles += [f"{names[i]} test jet {seen[i]} (input)" for i in chunk]
        titles += [f"{names[i]} reconstruction" for i in chunk]
    return jet_images(panels, titles, ncols=ncols, floor=floor, axes=axes)


def latent_path(images: np.ndarray, floor: float = 1e-4, ncols: int = 5, axes=None):
    """Decoded unit-sum images along a path through the latent space, one panel per step, on
    one logarithmic colour scale from ``floor``."""
    return jet_images(images, [f"step {i}" for i in range(len(images))], ncols=ncols,
                      floor=floor, axes=axes, panel_height=1.6)


def prior_samples(images: np.ndarray, floor: float = 1e-4, ncols: int = 3, axes=None):
    """Unit-sum images decoded from prior draws, one panel each, on one colour scale."""
    return jet_images(images, [f"prior sample {i}" for i in range(len(images))], ncols=ncols,
                      floor=floor, axes=axes)


# --------------------------------------------------------------------------- chapter 3: latents

#: Titles of the embedding methods of :func:`src.analysis.latent.embed`.
METHOD_TITLES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}


def _by_class(ax, x: np.ndarray, y: np.ndarray, labels: np.ndarray, classes: Sequence[str],
              contours: bool = False, seed: int = 0, limits: str = "xy") -> list:
    """One scatter of every point in class colours, drawn in a random order so that no class
    hides the other, the axes of ``limits`` set to the 1-99% quantiles (+8%); with ``contours``,
    each class's density contours enclosing 50% and 90% of its points. Returns the scatter
    and the legend handles."""
    order = np.random.default_rng(seed).permutation(len(x))
    colors = np.array([COLORS.get(c, "grey") for c in classes])[np.asarray(labels)[order]]
    artists = [ax.scatter(x[order], y[order], s=2, alpha=0.35, c=colors, rasterized=True,
                          linewidths=0)]
    if contours:
        for label, process in enumerate(classes):
            sel = labels == label
            sns.kdeplot(x=x[sel], y=y[sel], ax=ax, levels=[0.1, 0.5], color=COLORS.get(process),
                        linewidths=1.2)
    for values, set_lim in [(v, f) for a, v, f in (("x", x, ax.set_xlim), ("y", y, ax.set_ylim))
                            if a in limits]:
        low, high = np.percentile(values, [1, 99])
        set_lim(low - 0.08 * (high - low), high + 0.08 * (high - low))
    return artists


def _class_legend(fig, labels: np.ndarray, classes: Sequence[str]) -> None:  # one per figure
    handles = [Line2D([], [], ls="", marker="o", color=COLORS.get(p),
                      label=f"{LABELS.get(p, p)} ({np.sum(labels == i):,} jets)")
               for i, p in enumerate(classes)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(classes))


def projections(embedded: Mapping[tuple[str, str], np.ndarray], labels: np.ndarray,
                classes: Sequence[str] = ("qcd", "top"), axes=None):
    """2-D embeddings keyed ``(feature set, method)``: one row per feature set, one column per
    method, points coloured by class with density contours (:func:`_by_class`), one legend;
    the scatters in drawing order."""
    rows = list(dict.fromkeys(which for which, _ in embedded))
    cols = list(dict.fromkeys(method for _, method in embedded))
    axes = _grid(axes, (len(rows), len(cols)), 2.5 * len(rows) + 0.4)
    artists = []
    for (which, method), xy in embedded.items():
        ax, title = axes[rows.index(which), cols.index(method)], METHOD_TITLES.get(method, method)
        artists += _by_class(ax, xy[:, 0], xy[:, 1], np.asarray(labels), classes, contours=True)
        ax.set(title=f"{which}, {title}", xlabel=f"{title} 1", ylabel=f"{title} 2")
    _class_legend(axes[0, 0].figure, np.asarray(labels), classes)
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
    ax.set(xticks=occupancy.index, xlabel="most likely category",
           ylabel="fraction of the class's jets")
    ax.legend()
    return artists


def distance_scatter(values: Mapping[str, np.ndarray], distance: np.ndarray, labels: np.ndarray,
                     classes: Sequence[str] = ("qcd", "top"), axes=None):
    """|mu| (log scale) against each per-jet quantity (``{axis label: values}``), one panel
    per quantity, coloured by class (:func:`_by_class`), one legend."""
    axes = _grid(axes, (1, len(values)), 3.2, sharey=True)
    artists = []
    for ax, (name, x) in zip(axes.flat, values.items(), strict=True):
        artists += _by_class(ax, np.asarray(x), distance, np.asarray(labels), classes, limits="x")
        ax.set(xlabel=name, yscale="log",
               ylim=(np.percentile(distance, 0.5) / 1.3, np.max(distance) * 1.3))
    axes[0, 0].set_ylabel(r"$|\mu|$, length of the posterior means")
    _class_legend(axes[0, 0].figure, np.asarray(labels), classes)
    return artists


# --------------------------------------------------------------------------- chapter 4: scores


def score_histograms(scores: Mapping[str, pd.DataFrame], processes: Sequence[str] = ("qcd", "top"),
                     labels: Mapping[str, str] = SCORE_LABELS, axes=None, bins: int = 60,
                     ncols: int = 3):
    """Normalized distributions of every score of ``labels`` that the frames hold, one panel
    per score and one line per process of ``processes`` (``scores``: {process: score frame}),
    between the 0.5% and 99.5% quantiles of those processes together; counts on a log scale,
    positive KL scores on a logarithmic axis too; one legend. Panels left over are off."""
    frames = {p: scores[p] for p in processes}
    names = [n for n in labels if all(n in frame for frame in frames.values())]
    nrows = -(-len(names) // ncols)
    axes = _grid(axes, (nrows, ncols), 2.1 * nrows + 0.3)
    artists = []
    for ax, name in zip(axes.flat, names, strict=False):
        values = {p: frame[name].to_numpy() for p, frame in frames.items()}
        low, high = np.percentile(np.concatenate(list(values.values())), [0.5, 99.5])
        log = name.startswith("kl") and low > 0
        edges = np.geomspace(low, high, bins) if log else np.linspace(low, high, bins)
        artists.append(class_histograms(values, edges, labels[name], ax=ax, legend=False,
                                        ylabel="density"))
        ax.set(xscale="log" if log else "linear", yscale="log")
    _off(axes, len(names))
    axes[0, 0].figure.legend(handles=[a[0] for a in artists[0]], loc="outside lower center", ncol=2)
    return artists
