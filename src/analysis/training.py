"""What a training run left behind (chapter 2): the per-epoch history and the final metrics
beside the study's Table 3.1, the size of the networks, their trained kernels and how much
the reconstructions differ from jet to jet.

A history is the frame of a model's ``training_history``: one row per epoch, columns
``<metric>`` (training), ``val_<metric>`` (validation) and ``lr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..study import TABLE_3_1, Quoted

#: Metrics a JointVAE history may hold, in display order, with their axis / row labels.
#: BCE and MSE are summed over the 1600 pixels of a unit-sum image, KL terms are in nats.
METRIC_NAMES = {"loss": "total loss", "bce": "BCE (summed pixels)", "kl_cont": "KL continuous",
                "kl_disc": "KL discrete", "mse": "MSE (summed pixels)", "psnr": "PSNR [dB]",
                "ssim": "SSIM"}


def history_metrics(history: pd.DataFrame) -> list[str]:
    """The metrics of :data:`METRIC_NAMES` that ``history`` holds, in display order."""
    return [m for m in METRIC_NAMES if m in history]


def best_epoch(history: pd.DataFrame) -> int:
    """Epoch (counted from 1) with the lowest validation loss: the one whose weights are kept."""
    if "val_loss" not in history or len(history) == 0:
        raise ValueError("the history has no validation loss")
    return int(np.argmin(history["val_loss"])) + 1


def final_metrics(history: pd.DataFrame, study: Quoted = TABLE_3_1) -> pd.DataFrame:
    """Training and validation metrics of the best epoch beside the study's, one row per
    metric of the history (labelled as in :data:`METRIC_NAMES`).

    ``study.values`` maps each metric to its (training, validation) value; a metric the
    study does not quote is left empty.
    """
    metrics, row = history_metrics(history), best_epoch(history) - 1
    quoted = {m: study.values.get(m, (np.nan, np.nan)) for m in metrics}
    return pd.DataFrame({
        "ours, training": [history[m].iloc[row] for m in metrics],
        "ours, validation": [history[f"val_{m}"].iloc[row] for m in metrics],
        "study, training": [quoted[m][0] for m in metrics],
        "study, validation": [quoted[m][1] for m in metrics],
    }, index=[METRIC_NAMES[m] for m in metrics])


def size_totals(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Parameters and MACs per image summed over each network's
    :func:`src.models.networks.layer_table`, one row per network (e.g. encoder, decoder)."""
    return pd.DataFrame({
        "parameters": [table["parameters"].sum() for table in tables.values()],
        "MACs per image": [table["MACs"].sum() for table in tables.values()],
    }, index=list(tables))


def kernels(network: Any) -> dict[str, np.ndarray]:
    """Flattened trained kernel (first weight array, at least 2-D) of every layer that has one,
    i.e. the convolutions and dense layers, by layer name in layer order."""
    out = {}
    for layer in network.layers:
        weights = layer.get_weights()
        if weights and weights[0].ndim > 1:
            out[layer.name] = weights[0].ravel()
    return out


def reconstruction_spread(images: Any, reconstructions: Any) -> float:
    """Mean distance of a reconstruction from the mean reconstruction, in percent of the mean
    distance of an input from the mean input (Frobenius norms over the image axes).

    Near 0 when the decoder draws the same jet whatever the input (posterior collapse),
    100 when the reconstructions vary as much as the inputs. Both stacks are (N, H, W).
    """
    x, x_hat = np.asarray(images), np.asarray(reconstructions)
    if x.ndim != 3 or x.shape != x_hat.shape or len(x) < 2:
        raise ValueError(f"need two equal (N, H, W) stacks with N >= 2, got {x.shape} and "
                         f"{x_hat.shape}")
    spread_in = np.linalg.norm(x - x.mean(0), axis=(1, 2)).mean()
    spread_out = np.linalg.norm(x_hat - x_hat.mean(0), axis=(1, 2)).mean()
    return float(100 * spread_out / spread_in)
