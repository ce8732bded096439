"""Chapter 7's figures on small hand-made tables: a page wide, no font below the minimum."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

# isort: split
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from src import style
from src.analysis import scanplots


@pytest.fixture(autouse=True)
def _close_figures():
    style.use()
    yield
    plt.close("all")


def _fonts(fig) -> list[float]:
    return [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def test_beta_scan_fits_the_page_with_legible_fonts():
    betas = {"beta0.01": 0.01, "beta1": 1.0, "beta3000": 3000.0}
    index = pd.MultiIndex.from_product([list(betas), ["kl_total", "mixture"]])
    metrics = {f"{m}{s}": 0.6 for m in ("auc_top", "auc_w", "auc_inverted") for s in ("", "_std")}
    table = pd.DataFrame([metrics] * len(index), index=index)
    usage = pd.DataFrame({"kl_disc": [0.1, 0.01, 0.001], "purity": [0.6, 0.55, 0.5]}, index=list(betas))
    axes = scanplots.beta_scan(table, usage, betas)
    fig = axes[0].figure
    assert fig.get_size_inches()[0] <= style.PAGE_WIDTH
    assert min(_fonts(fig)) >= style.MIN_FONT_PT


def test_sculpting_one_panel_per_score():
    rng = np.random.default_rng(0)
    mass = rng.uniform(20, 300, 500)
    axes = scanplots.sculpting(mass, {"a": mass, "b": rng.normal(size=500)})
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert min(_fonts(axes[0].figure)) >= style.MIN_FONT_PT
