"""Chapter 4's comparison on fake scores: rows, metrics, stacked ROC input, study columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.analysis import comparison as C
from src.analysis import metrics as M
from src.models.registry import STUDY_MODELS
from src.study import FIGURE_3_10, PAPER_TABLE_1


def _scores() -> dict[str, dict[str, pd.DataFrame]]:
    """Every source of :data:`C.ROWS` with signal shifted up by a source-specific amount."""
    rng = np.random.default_rng(0)
    columns: dict[str, set[str]] = {}
    for source, column in [*C.ROWS.values(), *C.INVERTED_ROWS.values()]:
        columns.setdefault(source, set()).add(column)
    sizes, shift = {"qcd": 300, "top": 200, "w": 100}, {"qcd": 0.0, "top": 1.0, "w": 0.3}
    return {source: {p: pd.DataFrame({c: rng.normal(size=n) + shift[p] for c in sorted(names)})
                     for p, n in sizes.items()}
            for source, names in columns.items()}


def test_rows_cover_the_study_model_and_the_baselines():
    assert set(C.LATENT_ROWS) <= set(C.ROWS) and set(C.ROC_ROWS) <= set(C.ROWS)
    assert all(C.ROC_ROWS[row] == C.ROWS[row] for row in C.ROC_ROWS)
    assert C.ROWS["jet mass"] == ("jet", "jet_mass")
    assert {source for source, _ in C.INVERTED_ROWS.values()} == {"jointvae_top"}


def test_model_table_lists_every_recipe():
    table = C.model_table()
    assert list(table.index) == list(STUDY_MODELS) and list(table.columns) == ["model"]


def test_columns_pick_each_rows_source_and_column():
    scores = _scores()
    out = C.columns(scores, {"x": ("vae", "bce"), "m": ("jet", "jet_mass")}, "w")
    np.testing.assert_array_equal(out["x"], scores["vae"]["w"]["bce"])
    np.testing.assert_array_equal(out["m"], scores["jet"]["w"]["jet_mass"])


def test_comparison_equals_one_metrics_table_per_row():
    scores = _scores()
    rows = {"KL": C.ROWS["JointVAE KL total"], "CNN": C.ROWS["supervised CNN"]}
    table = C.comparison(scores, rows, "top", seed=4)
    assert list(table.index) == ["KL", "CNN"]
    for row, (source, column) in rows.items():
        alone = M.metrics_table({row: scores[source]["qcd"][column]},
                                {row: scores[source]["top"][column]}, seed=4)
        pd.testing.assert_series_equal(table.loc[row], alone.loc[row])
    inverted = C.comparison(scores, C.INVERTED_ROWS, "qcd", background="top", seed=4)
    assert (inverted["auc"] < 0.5).all()


def test_stacked_gives_roc_set_input():
    scores = _scores()
    values, labels = C.stacked(scores, C.ROC_ROWS, "top")
    assert list(values) == list(C.ROC_ROWS)
    np.testing.assert_array_equal(labels, np.repeat([0, 1], [300, 200]))
    source, column = C.ROC_ROWS["jet mass"]
    np.testing.assert_array_equal(values["jet mass"][:300], scores[source]["qcd"][column])
    table = C.comparison(scores, C.ROC_ROWS, "top")
    assert M.auc(values["VAE KL"], labels) == pytest.approx(table.loc["VAE KL", "auc"])


def test_study_columns_quote_only_the_studys_model():
    table = C.study_columns(C.ROWS)
    assert table.loc["JointVAE KL total"].tolist() == list(PAPER_TABLE_1.values["kl_total"])
    assert table.loc["JointVAE squared error", "study AUC [%]"] == FIGURE_3_10.values["mse"]
    assert np.isnan(table.loc["JointVAE BCE", "study TPR @ FPR 10% [%]"])
    assert table.loc[["VAE KL", "jet mass", "supervised CNN"]].isna().all().all()
    assert C.study_columns(C.INVERTED_ROWS).isna().all().all()


def test_with_study_formats_errors_in_percent():
    table = pd.DataFrame({"auc": [0.9371], "auc_std": [0.0024], "tpr@fpr=0.1": [0.5],
                          "tpr@fpr=0.1_std": [0.01], "tpr@fpr=0.01": [0.1],
                          "tpr@fpr=0.01_std": [0.002]}, index=["JointVAE KL discrete"])
    shown = C.with_study(table, C.ROWS)
    assert list(shown.columns) == [*C.ERROR_COLUMNS, "study AUC [%]", "study TPR @ FPR 10% [%]"]
    row = shown.loc["JointVAE KL discrete"]
    assert row["AUC [%]"] == "93.7 ± 0.2" and row["TPR @ FPR 1% [%]"] == "10.0 ± 0.2"
    assert row["study AUC [%]"] == PAPER_TABLE_1.values["kl_disc"][0]
    assert PAPER_TABLE_1.source in C.source_note() and FIGURE_3_10.source in C.source_note()
