"""The compression chapter's tables on small fake scores and tiny QKeras encoders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes import TINY_QUANTIZED_SPEC

from src.compress import report
from src.compress.prune import nonzero_macs, sparsity
from src.models.networks import build_encoder, count_macs
from src.models.spec import ModelSpec
from src.study import TABLE_3_3

TINY_QUANTIZED = ModelSpec(**TINY_QUANTIZED_SPEC)


def _kl(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """KL frames of n background then n signal jets; the signal's KL total is ``shift`` higher."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    frame = pd.DataFrame({"kl_cont": rng.exponential(size=2 * n),
                          "kl_disc": rng.exponential(size=2 * n)})
    frame["kl_total"] = frame["kl_cont"] + frame["kl_disc"] + shift * labels
    return frame, labels


def test_kl_metrics_rank_the_scores_of_every_model():
    separated, labels = _kl(200, 100.0, seed=0)
    mixed, _ = _kl(200, 0.0, seed=1)
    table = report.kl_metrics({"reduced float": separated, "other": mixed}, labels, seed=3)
    assert table.index.names == ["model", "score"]
    assert list(table.index) == [(m, s) for m in ("reduced float", "other")
                                 for s in report.KL_LABELS]
    assert table.loc[("reduced float", "kl_total"), "auc"] == 1.0
    assert table.loc[("reduced float", "kl_total"), "tpr@fpr=0.1"] == 1.0
    assert abs(table.loc[("other", "kl_total"), "auc"] - 0.5) < 0.1
    assert (table["auc_std"] > 0).loc["other"].all()


def test_table_3_3_puts_the_study_beside_ours():
    frame, labels = _kl(100, 100.0, seed=0)
    table = report.table_3_3(report.kl_metrics({"quantized <16,6>": frame, "new": frame},
                                               labels, seed=0))
    assert list(table.columns) == ["AUC [%]", "TPR @ FPR 10% [%]", "study AUC [%]",
                                   "study TPR @ FPR 10% [%]"]
    assert table.loc[("quantized <16,6>", "KL total"), "AUC [%]"] == "100.0 ± 0.0"
    study_tpr, study_auc = TABLE_3_3.values[("quantized <16,6>", "kl_disc")]
    row = table.loc[("quantized <16,6>", "KL discrete")]
    assert (row["study AUC [%]"], row["study TPR @ FPR 10% [%]"]) == (study_auc, study_tpr)
    assert table.loc["new"][["study AUC [%]", "study TPR @ FPR 10% [%]"]].isna().all().all()


def test_scan_table_has_one_column_per_series():
    scan = pd.DataFrame({"bits": [16, 8, 16, 8, 16, 8], "integer_bits": [6, 6, 6, 6, 3, 3],
                         "epochs": [2, 2, 0, 0, 0, 0], "auc": [0.9, 0.8, 0.9, 0.5, 0.9, 0.7]})
    table = report.scan_table(scan)
    assert list(table.index) == [8, 16] and table.index.name == "total bits"
    assert list(table.columns) == ["post-training, 3 integer bits", "post-training, 6 integer bits",
                                   "encoder QAT, 6 integer bits"]
    assert table.loc[8].tolist() == [0.7, 0.5, 0.8]
    assert report.scan_values(table, bits=(8,)) == {"qat_8": 0.8, "ptq6_8": 0.5, "ptq3_8": 0.7}


def test_pruning_table_counts_the_pruned_multiplications():
    encoder = build_encoder(TINY_QUANTIZED)
    pruned = build_encoder(TINY_QUANTIZED)
    pruned.set_weights(encoder.get_weights())
    kernel = pruned.get_layer("z_mean").kernel
    kernel.assign(np.zeros(kernel.shape, np.float32))
    table = report.pruning_table(encoder, pruned, 0.9, 0.8, names=("full", "pruned"))
    assert list(table.index) == ["full", "pruned"]
    assert table["KL-total AUC"].tolist() == [0.9, 0.8]
    assert table.loc["pruned", "zero kernel weights"] == sparsity(pruned) > sparsity(encoder)
    total = sum(count_macs(encoder).values())
    assert table.loc["full", "MACs with a non-zero weight [M]"] == total / 1e6
    assert table.loc["pruned", "MACs with a non-zero weight [M]"] == nonzero_macs(pruned) / 1e6
    assert nonzero_macs(pruned) <= total - count_macs(pruned)["z_mean"]


def test_summary_table_reads_the_energies_of_each_encoder():
    totals = pd.DataFrame({"QTools [uJ]": [5.0, 3.0], "grouped MACs, with norm [uJ]": [2.0, 1.5]},
                          index=["b", "a"])
    table = report.summary_table({"a": (10, 100, 0.9), "b": (20, 400, 0.8)}, totals)
    assert list(table.index) == ["a", "b"]
    assert list(table.columns) == list(report.SUMMARY_DIGITS)
    assert table.loc["a"].tolist() == [10, 100, 3000.0, 1500.0, 0.9]
    with pytest.raises(KeyError):
        report.summary_table({"c": (1, 1, 0.5)}, totals)

