"""The book's figures drawn on small fake data: what each plot function returns and draws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fakes import unit_sum_images
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.image import AxesImage

from src.analysis import plots
from src.analysis.latent import category_occupancy
from src.analysis.scores import SCORE_COLUMNS


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _jets(n: int = 4) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {p: {"images": 50 * unit_sum_images(n, seed=i),
                "jet_pt": rng.uniform(550, 650, n), "jet_mass": rng.uniform(10, 250, n),
                "n_constituents": rng.integers(10, 100, n)}
            for i, p in enumerate(("qcd", "top", "w"))}


def test_mean_images_one_panel_per_sample():
    artists = plots.mean_images(_jets())
    assert len(artists) == 3
    image, bar = artists[1]
    assert isinstance(image, AxesImage) and bar.ax.get_ylabel() == "pixel $p_T$ [GeV]"
    assert image.axes.get_title().startswith("top: mean of 4 jets")


def test_example_jets_grid_and_titles():
    jets = _jets()
    artists = plots.example_jets(jets, n=2)
    assert len(artists) == 6
    title = artists[3][0].axes.get_title()  # second column (top), second row
    assert title.startswith("top jet 1:") and f"{jets['top']['jet_mass'][1]:.0f} GeV" in title


def test_kinematics_one_histogram_per_sample_and_quantity():
    artists = plots.kinematics(_jets())
    assert len(artists) == len(plots.KINEMATICS) and all(len(a) == 3 for a in artists)
    axes = [a[0][0].axes for a in artists]
    assert [ax.get_xlabel() for ax in axes] == [label for _, _, label in plots.KINEMATICS]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["QCD", "top", "W"]


def test_roc_curves_title_and_random_line():
    fpr, tpr = np.array([0.0, 0.1, 1.0]), np.array([0.0, 0.6, 1.0])
    lines = plots.roc_curves({"a": (fpr, tpr), "b": (fpr, tpr ** 2)}, title="t")
    assert [line.get_label() for line in lines] == ["a", "b", "random"]
    assert lines[0].axes.get_title() == "t"


def _history(epochs: int = 3) -> pd.DataFrame:
    columns = {}
    for i, metric in enumerate(("loss", "bce", "kl_cont")):
        columns[metric] = np.linspace(3, 1, epochs) + i
        columns[f"val_{metric}"] = np.linspace(3.5, 1.5, epochs) + i
    columns["lr"] = [1e-3, 1e-3, 5e-4][:epochs]
    return pd.DataFrame(columns)


def test_training_curves_two_lines_per_metric_and_the_learning_rate():
    lines = plots.training_curves(_history())
    assert len(lines) == 2 * 3 + 1
    assert [line.get_label() for line in lines[:2]] == ["training", "validation"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    kl_axis, lr_axis = lines[4].axes, lines[-1].axes
    assert kl_axis.get_yscale() == "log" and kl_axis.get_ylabel() == "KL continuous"
    assert lr_axis.get_ylabel() == "learning rate"
    figure_axes = lr_axis.figure.axes
    assert [ax.axison for ax in figure_axes] == [True] * 4 + [False] * 4


def test_weight_distributions_histograms_and_whiskers():
    rng = np.random.default_rng(1)
    kernels = {"conv": rng.normal(size=200), "dense": rng.normal(scale=0.1, size=50)}
    artists = plots.weight_distributions(kernels)
    assert len(artists) == 3  # one histogram per layer, one legend proxy for the whiskers
    left, right = artists[0][0].axes, artists[-1].axes
    assert left.get_yscale() == "log" and left.get_ylabel() == "probability density"
    assert [t.get_text() for t in right.get_yticklabels()] == ["conv", "dense"]


def test_reconstructions_number_inputs_within_their_class():
    images = unit_sum_images(4)
    artists = plots.reconstructions(images, images[::-1], ["QCD", "QCD", "top", "top"])
    titles = [image.axes.get_title() for image, _ in artists]
    assert titles[::2] == ["QCD test jet 0 (input)", "QCD test jet 1 (input)",
                           "top test jet 0 (input)", "top test jet 1 (input)"]
    assert titles[1] == "QCD reconstruction"
    np.testing.assert_array_equal(artists[1][0].get_array().filled(np.nan), images[3])


def test_latent_path_shares_one_colour_scale():
    images = unit_sum_images(5)
    images[0, 0, 0] = 0.0
    artists, bar = plots.latent_path(images, floor=1e-4)
    assert len(artists) == 5 and artists[-1].axes.get_title() == "step 4"
    assert all(a.norm.vmin == 1e-4 and a.norm.vmax == 1 for a in artists)
    assert np.ma.getmaskarray(artists[0].get_array())[0, 0]  # below the floor: white
    assert bar.ax.get_ylabel() == "pixel $p_T$ / jet $p_T$"


def test_prior_samples_titles():
    artists = plots.prior_samples(unit_sum_images(3))
    assert [image.axes.get_title() for image, _ in artists] == [
        "prior sample 0", "prior sample 1", "prior sample 2"]


def test_projections_one_scatter_per_class_and_panel():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], [6, 4])
    embedded = {(which, method): rng.normal(size=(10, 2))
                for which in ("continuous", "discrete") for method in ("tsne", "pca")}
    artists = plots.projections(embedded, labels)
    assert len(artists) == 8 and all(isinstance(a, PathCollection) for a in artists)
    assert [a.get_label() for a in artists[:2]] == ["QCD (6 jets)", "top (4 jets)"]
    ax = artists[-1].axes
    assert ax.get_title() == "discrete latent, PCA" and ax.get_xlabel() == "PCA 1"
    assert len(artists[0].get_offsets()) == 6


def test_category_bars_side_by_side():
    logits = np.eye(3)[[0, 0, 1, 2, 2, 2]]
    occupancy = category_occupancy(logits, np.array([0, 0, 0, 1, 1, 1]))
    fig, ax = plt.subplots()
    bars = plots.category_bars(occupancy, ax=ax, width=0.4)
    assert len(bars) == 2 and all(isinstance(b, BarContainer) and len(b) == 3 for b in bars)
    heights = [[patch.get_height() for patch in b] for b in bars]
    np.testing.assert_allclose(heights, [[2 / 3, 1 / 3, 0], [0, 0, 1]])
    # category k: class 0 centred at k - width/2, class 1 at k + width/2
    assert bars[0][1].get_x() == pytest.approx(1 - 0.4) and bars[1][1].get_x() == pytest.approx(1)


def test_distance_scatter_panels_and_scale():
    labels = np.repeat([0, 1], 5)
    distance = np.linspace(0.1, 10, 10)
    artists = plots.distance_scatter({"jet mass [GeV]": np.arange(10.0),
                                      "number of constituents": np.arange(10)}, distance, labels)
    assert len(artists) == 4
    ax = artists[2].axes
    assert ax.get_xlabel() == "number of constituents" and ax.get_yscale() == "log"


def test_score_histograms_only_scores_every_frame_holds():
    rng = np.random.default_rng(3)
    frames = {p: pd.DataFrame({c: rng.exponential(size=50) + 0.1 for c in SCORE_COLUMNS})
              for p in ("qcd", "top", "w")}
    artists = plots.score_histograms(frames, ("qcd", "top"))
    assert len(artists) == 7 and all(len(a) == 2 for a in artists)
    first = artists[0][0][0].axes
    assert first.get_xlabel() == plots.SCORE_LABELS["kl_cont"] and first.get_xscale() == "log"
    assert artists[3][0][0].axes.get_xscale() == "linear"  # bce: not a KL score
    assert not first.figure.axes[-1].axison
    frames["top"] = frames["top"].drop(columns="kl_disc")
    assert len(plots.score_histograms(frames, ("qcd", "top"))) == 6
