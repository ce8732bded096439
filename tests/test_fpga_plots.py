"""Figures of the FPGA chapter (src.fpga.plots) drawn from small hand-made inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

# isort: split
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from src.fpga import feasibility, plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_emulation_agreement_on_given_axes():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=50)
    emulated = reference + rng.normal(scale=1e-3, size=50)
    labels = np.repeat([0, 1], 25)
    _, axes = plt.subplots(1, 3)
    artists = plots.emulation_agreement(reference, emulated, labels, axes=axes)
    assert len(artists) == 5  # points, diagonal, difference histogram, two class histograms
    for ax in axes:
        assert "[" in ax.get_xlabel() and ax.get_ylabel()
    assert axes[1].get_yscale() == "log"
    with pytest.raises(ValueError, match="expected 3 axes"):
        plots.emulation_agreement(reference, emulated, labels, axes=axes[:2])


def _scan(latencies) -> pd.DataFrame:
    rows = [{**setting, "latency_ns": latency, "DSP_%": 5.0 * i, "LUT_%": 1.0 + i}
            for i, (setting, latency) in enumerate(zip(feasibility.SCAN_GRID, latencies, strict=True))]
    return pd.DataFrame(rows)


def test_design_space_marks_the_tuned_designs():
    n = len(feasibility.SCAN_GRID)
    scans = {"reduced encoder": _scan(np.geomspace(1e3, 1e5, n)),
             "student": _scan(np.geomspace(1e2, 1e4, n))}
    total = pd.DataFrame({"total": {"latency_ns": 700.0, "DSP_%": 9.0, "LUT_%": 8.0}}).T
    tuned = {("student", feasibility.TARGETS.budget_name): ({}, total),
             ("student", "whole U250"): None, ("reduced encoder", "whole U250"): None}
    artists = plots.design_space(scans, tuned)
    fig = artists[0].figure
    axes = fig.axes
    assert len(axes) == 2 and fig.get_size_inches()[0] <= 7.5
    assert all(ax.get_ylabel() == "max(DSP, LUT) [% of U250]" for ax in axes)
    assert axes[1].get_xlabel() == "estimated latency at 200 MHz [ns]"
    assert {t.get_text() for t in axes[1].texts} == {"200 ns", "1 µs"}  # no per-point labels
    assert all(t.get_fontsize() >= 9 for ax in axes for t in ax.texts)
    assert len(axes[0].collections) == n and len(axes[1].collections) == n + 1  # + tuned star
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "tuned per layer: 10% of DSP and LUT" in legend and "reuse factor 64" in legend
    assert "io_parallel, all pixels per pass" in legend


def test_emulation_agreement_fits_the_page():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=50)
    artists = plots.emulation_agreement(reference, reference, np.repeat([0, 1], 25))
    assert artists[0].figure.get_size_inches()[0] <= 7.5


def test_kl_differences_one_histogram_per_firmware_and_the_target():
    rng = np.random.default_rng(0)
    fig = plots.kl_differences({"a": rng.uniform(1e-4, 1e-1, 200),
                                "b": rng.uniform(1e-5, 1e-2, 200)}, 0.005)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("a (median") and labels[-1] == "target median 0.5%"
    assert len(ax.patches) == 2 and ax.get_xscale() == "log"
    plt.close(fig)
