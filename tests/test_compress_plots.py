"""The compression chapter's figures drawn on tiny encoders and fake scores."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from src.compress import plots
from src.compress.quantize import kernels, reduced_spec
from src.config import get_profile
from src.models.layers import QKerasFactory
from src.models.networks import build_encoder


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_weight_panels_one_histogram_panel_per_encoder_then_whiskers():
    spec = reduced_spec(get_profile("smoke"))
    encoders = {"float": build_encoder(spec),
                "quantized": build_encoder(spec.replace(bits=16), QKerasFactory(16, 6))}
    histograms, whiskers = plots.weight_panels(encoders)
    assert len(histograms) == 2 and len(histograms[0]) == len(kernels(encoders["float"]))
    axes = whiskers[0].axes.figure.axes
    assert len(axes) == 3 and [ax.get_title() for ax in axes[:2]] == ["float", "quantized"]
    assert [t.get_text() for t in axes[2].get_yticklabels()] == list(kernels(encoders["float"]))
    edges = histograms[0][0][0].get_path().vertices[:, 0]  # one step line: common bin edges
    assert edges.min() == pytest.approx(-edges.max())
    _, two = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="need 3 axes"):
        plots.weight_panels(encoders, axes=two)


def _scan() -> pd.DataFrame:
    return pd.DataFrame({"bits": [16, 8] * 3, "integer_bits": [6, 6, 6, 6, 3, 3],
                         "epochs": [0, 0, 2, 2, 0, 0], "auc": [0.9, 0.5, 0.9, 0.8, 0.9, 0.7]})


def test_bit_scan_draws_trained_series_first():
    lines = plots.bit_scan(_scan(), float_auc=0.92, joint_qat_auc=0.93)
    assert [line.get_label() for line in lines] == [
        "encoder QAT, 6 integer bits", "post-training, 3 integer bits",
        "post-training, 6 integer bits", "joint-VAE QAT <16,6> (table above)",
        "float reduced encoder", "random guess"]
    assert lines[1].get_ydata().tolist() == [0.9, 0.7]
    assert lines[4].get_ydata()[0] == 0.92
    assert list(lines[0].axes.get_xticks()) == [8, 16]


def test_student_panels_scatter_and_roc_curves():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    teacher = rng.exponential(size=100) + 2 * labels
    paired = pd.DataFrame({"teacher": teacher, "student": np.log(teacher) + rng.normal(0, 0.1, 100)})
    points, curves = plots.student_panels(paired, labels, {"other": rng.normal(size=100)})
    assert all(isinstance(p, PathCollection) for p in points)
    assert [p.get_label() for p in points] == ["QCD", "top"]
    assert len(points[1].get_offsets()) == 50
    names = [line.get_label() for line in curves]
    assert names[0].startswith("teacher (full float joint VAE) (AUC ")
    assert names[1].startswith("student (AUC ") and names[2].startswith("other (AUC ")
    assert points[0].axes.get_xscale() == "log"
