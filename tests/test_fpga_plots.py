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
    axes = artists[0].figure.axes
    assert len(axes) == 2
    assert axes[0].get_ylabel() == "estimated max(DSP, LUT) share of the U250 [%]"
    assert all(ax.get_xlabel() == "estimated latency at 200 MHz [ns]" for ax in axes)
    labels = [t.get_text() for t in axes[1].texts]
    assert "R=1, all pixels" in labels and "200 ns" in labels and "1 µs" in labels
    legend = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "tuned per layer: 10% of DSP and LUT" in legend
    assert not any(t.get_text().startswith("tuned") for t in axes[0].get_legend().get_texts())


def test_kl_differences_one_histogram_per_firmware_and_the_target():
    rng = np.random.default_rng(0)
    fig = plots.kl_differences({"a": rng.uniform(1e-4, 1e-1, 200),
                                "b": rng.uniform(1e-5, 1e-2, 200)}, 0.005)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("a (median") and labels[-1] == "target median 0.5%"
    assert len(ax.patches) == 2 and ax.get_xscale() == "log"
    plt.close(fig)
