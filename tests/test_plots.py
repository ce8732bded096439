"""The book's figures drawn on small fake data: what each plot function returns and draws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fakes import unit_sum_images
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer
from matplotlib.image import AxesImage

from src import style
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


def test_jet_images_share_one_colour_scale_without_holes():
    images = unit_sum_images(5)
    images[0, 0, 0] = 0.0
    artists, bar = plots.jet_images(images, [f"jet {i}" for i in range(5)], ncols=3, floor=1e-4)
    assert len(artists) == 5 and artists[4].axes.get_title() == "jet 4"
    assert isinstance(artists[0], AxesImage)
    assert len({id(a.norm) for a in artists}) == 1 and artists[0].norm.vmin == 1e-4
    assert artists[0].norm.vmax == pytest.approx(images.max())
    assert not np.ma.getmaskarray(artists[0].get_array()).any()  # empty pixel: floor colour
    assert artists[0].get_array()[0, 0] == 1e-4
    assert bar.ax.get_ylabel() == "pixel $p_T$ / jet $p_T$"
    fig = artists[0].figure
    assert fig.get_figwidth() <= style.PAGE_WIDTH and not fig.axes[5].axison  # 6th panel off


def test_mean_images_one_panel_per_sample():
    artists, bar = plots.mean_images(_jets())
    assert len(artists) == 3 and bar.ax.get_ylabel() == "pixel $p_T$ [GeV]"
    assert artists[1].axes.get_title().startswith("top, 4 jets")


def test_example_jets_grid_and_titles():
    jets = _jets()
    artists, _ = plots.example_jets(jets, n=2)
    assert len(artists) == 6
    title = artists[4].axes.get_title()  # second row, second column (top)
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
    assert lines[0].get_linestyle() != lines[1].get_linestyle()  # coinciding curves stay visible


def _history(epochs: int = 3) -> pd.DataFrame:
    columns = {}
    for i, metric in enumerate(("loss", "bce", "kl_cont")):
        columns[metric] = np.linspace(3, 1, epochs) + i
        columns[f"val_{metric}"] = np.linspace(3.5, 1.5, epochs) + i
    columns["lr"] = [1e-3, 1e-3, 5e-4][:epochs]
    return pd.DataFrame(columns)


def test_training_curves_log_axes_and_the_learning_rate_only_if_it_changes():
    lines = plots.training_curves(_history())
    assert len(lines) == 2 * 3 + 1
    assert [line.get_label() for line in lines[:2]] == ["training", "validation"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    loss_axis, lr_axis = lines[0].axes, lines[-1].axes
    assert loss_axis.get_yscale() == "log" and lines[4].axes.get_title() == "KL continuous"
    assert lr_axis.get_title() == "learning rate"
    assert [ax.axison for ax in lr_axis.figure.axes] == [True] * 4 + [False] * 2
    constant = _history().assign(lr=1e-3)
    lines = plots.training_curves(constant)
    assert len(lines) == 6 and "learning rate" not in [ln.get_label() for ln in lines]


def test_linear_metrics_stay_linear():
    history = _history().assign(ssim=[0.1, 0.5, 0.9], val_ssim=[0.2, 0.6, 0.9])
    lines = plots.training_curves(history)
    ssim = [ln.axes for ln in lines if ln.axes.get_title() == "SSIM"][0]
    assert ssim.get_yscale() == "linear"


def test_layer_groups_by_stage():
    groups = plots.layer_groups(["dconv_b0", "conv1_b0_0", "dconv_b1", "z_mean", "z_var"])
    assert groups == {"stage 0": ["dconv_b0", "conv1_b0_0"], "stage 1": ["dconv_b1"],
                      "dense heads": ["z_mean", "z_var"]}


def test_weight_distributions_histograms_coloured_by_stage_and_whiskers():
    rng = np.random.default_rng(1)
    kernels = {"conv_b0": rng.normal(size=200), "conv_b0_1": rng.normal(size=90),
               "dense": rng.normal(scale=0.1, size=50)}
    artists = plots.weight_distributions(kernels)
    assert len(artists) == 4  # one histogram per layer, one legend proxy for the whiskers
    left, right = artists[0][0].axes, artists[-1].axes
    assert left.get_yscale() == "log" and left.get_ylabel() == "probability density"
    assert artists[0][0].get_edgecolor() == artists[1][0].get_edgecolor()  # same stage
    assert artists[0][0].get_edgecolor() != artists[2][0].get_edgecolor()
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "stage 0 (2 layers)", "dense heads (1 layers)"]
    assert [t.get_text() for t in right.get_yticklabels()] == ["conv_b0", "conv_b0_1", "dense"]
    assert right.get_yticklabels()[0].get_fontsize() >= style.MIN_FONT_PT


def test_reconstructions_rows_of_inputs_above_outputs():
    images = unit_sum_images(4)
    artists, _ = plots.reconstructions(images, images[::-1], ["QCD", "QCD", "top", "top"],
                                       ncols=2)
    titles = [image.axes.get_title() for image in artists]
    assert titles == ["QCD test jet 0 (input)", "QCD test jet 1 (input)", "QCD reconstruction",
                      "QCD reconstruction", "top test jet 0 (input)", "top test jet 1 (input)",
                      "top reconstruction", "top reconstruction"]
    np.testing.assert_allclose(artists[2].get_array(), np.clip(images[3], 1e-4, None))
    with pytest.raises(ValueError, match="rows of 3"):
        plots.reconstructions(images, images, ["QCD"] * 4)


def test_latent_path_rows_of_five_on_one_scale():
    artists, bar = plots.latent_path(unit_sum_images(10), floor=1e-4)
    assert len(artists) == 10 and artists[-1].axes.get_title() == "step 9"
    assert all(a.norm is artists[0].norm for a in artists) and artists[0].norm.vmin == 1e-4
    assert artists[0].figure.get_figwidth() <= style.PAGE_WIDTH


def test_prior_samples_titles():
    artists, _ = plots.prior_samples(unit_sum_images(3))
    assert [image.axes.get_title() for image in artists] == [
        "prior sample 0", "prior sample 1", "prior sample 2"]


def test_projections_one_interleaved_scatter_per_panel_robust_limits():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], [60, 40])
    embedded = {(which, method): rng.normal(size=(100, 2))
                for which in ("continuous", "discrete") for method in ("tsne", "pca")}
    embedded[("discrete", "pca")][0] = [1e3, 1e3]  # one far outlier
    artists = plots.projections(embedded, labels)
    assert len(artists) == 4 and all(isinstance(a, PathCollection) for a in artists)
    assert len(artists[0].get_offsets()) == 100
    colors = artists[0].get_facecolors()[:, :3]
    assert 0 < np.isclose(colors, to_rgb(plots.COLORS["top"])).all(axis=1).sum() < 100
    ax = artists[-1].axes
    assert ax.get_title() == "discrete, PCA" and ax.get_xlabel() == "PCA 1"
    assert ax.get_xlim()[1] < 100  # the outlier does not set the axes
    legend = ax.figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["QCD (60 jets)", "top (40 jets)"]


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
    assert len(artists) == 2
    ax = artists[1].axes
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
    assert not first.figure.axes[-1].axison and first.get_legend() is None
    assert [t.get_text() for t in first.figure.legends[0].get_texts()] == ["QCD", "top"]
    assert "mean over pixels" in plots.SCORE_LABELS["mse"]
    frames["top"] = frames["top"].drop(columns="kl_disc")
    assert len(plots.score_histograms(frames, ("qcd", "top"))) == 6
