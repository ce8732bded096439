"""The tables of the compression chapter: KL metrics beside the study's Table 3.3, the
bit-width scan, pruning and the summary of every compressed encoder.

Every function takes results already computed (scores, AUCs, energy totals) and returns a
:class:`pandas.DataFrame`; the chapter displays it with :func:`src.analysis.tables.show`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.metrics import metrics_table
from ..analysis.tables import with_errors
from ..backend import keras
from ..models.networks import count_macs
from ..study import TABLE_3_3
from .prune import nonzero_macs, sparsity

#: The joint VAE's KL scores in the order of the study's Table 3.3, with their labels.
KL_LABELS = {"kl_disc": "KL discrete", "kl_cont": "KL continuous", "kl_total": "KL total"}
#: Background efficiency of the TPR columns (the study's).
FPR = 0.1


def kl_metrics(kl: Mapping[str, pd.DataFrame], labels: Any, seed: int) -> pd.DataFrame:
    """:func:`src.analysis.metrics.metrics_table` (AUC and TPR at FPR 10%, with bootstrap
    standard deviations) of the KL scores of several models on the same jets.

    ``kl`` maps a model name to its :func:`src.compress.quantize.kl_scores` frame, one row
    per jet; ``labels`` (N,) are 0 for background and 1 for signal jets. Index
    ``(model, score)`` with the scores of :data:`KL_LABELS`, in that order.
    """
    labels = np.asarray(labels)
    tables = {name: metrics_table(frame[labels == 0], frame[labels == 1], fprs=(FPR,),
                                  seed=seed, scores=list(KL_LABELS))
              for name, frame in kl.items()}
    return pd.concat(tables, names=["model", "score"])


def table_3_3(metrics: pd.DataFrame) -> pd.DataFrame:
    """:func:`kl_metrics` as "value ± error" percentages beside the study's Table 3.3
    (:data:`src.study.TABLE_3_3`; NaN for a model the study does not have)."""
    tpr = f"tpr@fpr={FPR:g}"
    table = with_errors(metrics, {"AUC [%]": "auc", "TPR @ FPR 10% [%]": tpr})
    study = [TABLE_3_3.values.get(key, (np.nan, np.nan)) for key in metrics.index]
    table["study AUC [%]"] = [auc for _, auc in study]
    table["study TPR @ FPR 10% [%]"] = [tpr for tpr, _ in study]
    return table.rename(index=KL_LABELS, level="score")


def scan_label(epochs: int, integer_bits: int) -> str:
    """Name of one series of the bit-width scan."""
    return f"{'encoder QAT' if epochs else 'post-training'}, {integer_bits} integer bits"


def scan_table(scan: pd.DataFrame) -> pd.DataFrame:
    """KL-total AUC of :func:`src.compress.quantize.bit_scans` per total bits (rows) and
    series (columns, :func:`scan_label`)."""
    table = scan.pivot_table(index="bits", columns=["epochs", "integer_bits"], values="auc")
    table.columns = [scan_label(epochs, integer) for epochs, integer in table.columns]
    return table.rename_axis("total bits")


#: Short names of the bit-scan series in :func:`scan_values`, with their :func:`scan_label`.
SCAN_SERIES = {"qat": scan_label(1, 6), "ptq6": scan_label(0, 6), "ptq3": scan_label(0, 3)}


def scan_values(table: pd.DataFrame, bits: tuple[int, ...] = (8, 10, 12)) -> dict[str, float]:
    """The AUCs of :func:`scan_table` that the chapter quotes, rounded to three decimals and
    named ``<series>_<bits>`` after :data:`SCAN_SERIES` (e.g. ``qat_10``, ``ptq3_10``)."""
    return {f"{key}_{b}": round(float(table.loc[b, label]), 3)
            for b in bits for key, label in SCAN_SERIES.items()}


def pruning_table(encoder: keras.Model, pruned: keras.Model, auc: float, pruned_auc: float,
                  names: tuple[str, str] = ("quantized <16,6>", "quantized <16,6>, pruned"),
                  ) -> pd.DataFrame:
    """An encoder beside its pruned copy: KL-total AUC, the fraction of zero kernel weights
    and the multiplications per image [millions]. The unpruned encoder's count is all of its
    MACs; the pruned one's counts only those by a non-zero weight
    (:func:`src.compress.prune.nonzero_macs`)."""
    return pd.DataFrame({
        "KL-total AUC": [auc, pruned_auc],
        "zero kernel weights": [sparsity(encoder), sparsity(pruned)],
        "MACs with a non-zero weight [M]": [sum(count_macs(encoder).values()) / 1e6,
                                            nonzero_macs(pruned) / 1e6]}, index=list(names))


#: Decimals of :func:`summary_table`'s columns, for :func:`src.analysis.tables.show`.
SUMMARY_DIGITS = {"parameters": 0, "MACs per image": 0, "energy, QTools [nJ]": 1,
                  "energy, grouped MACs + norm [nJ]": 1, "KL-total AUC": 3}


def summary_table(entries: Mapping[str, tuple[int, int, float]],
                  totals: pd.DataFrame) -> pd.DataFrame:
    """Size, cost and AUC of every encoder: ``entries`` maps its name to (parameters, MACs
    per image, AUC on the test jets); its energies [nJ] are those of the row of the same
    name in ``totals`` (:func:`src.compress.energy.totals`), QTools' own and the one with
    grouped MACs and instance norms."""
    rows = {}
    for name, (parameters, macs, auc) in entries.items():
        rows[name] = {"parameters": parameters, "MACs per image": macs,
                      "energy, QTools [nJ]": 1e3 * totals.loc[name, "QTools [uJ]"],
                      "energy, grouped MACs + norm [nJ]":
                          1e3 * totals.loc[name, "grouped MACs, with norm [uJ]"],
                      "KL-total AUC": auc}
    return pd.DataFrame.from_dict(rows, orient="index")
