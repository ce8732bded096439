"""What a training run left behind: history metrics, the best epoch, the final-metrics table
beside the study's, size totals, kernels and the spread of reconstructions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fakes import unit_sum_images

from src.analysis import training
from src.study import TABLE_3_1, Quoted


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "bce": [5.0, 4.0, 3.0], "val_bce": [5.5, 4.5, 3.5],
        "loss": [9.0, 7.0, 6.0], "val_loss": [9.5, 6.5, 7.5],
        "psnr": [30.0, 31.0, 32.0], "val_psnr": [29.0, 30.0, 31.0],
        "lr": [1e-3, 1e-3, 5e-4],
    })


def test_history_metrics_in_display_order():
    assert training.history_metrics(_history()) == ["loss", "bce", "psnr"]


def test_best_epoch_counts_from_one():
    assert training.best_epoch(_history()) == 2
    with pytest.raises(ValueError, match="validation loss"):
        training.best_epoch(pd.DataFrame({"loss": [1.0]}))


def test_final_metrics_take_the_best_epoch_and_the_quoted_values():
    study = Quoted({"loss": (6.0, 6.1), "bce": (5.9, 6.0)}, "somewhere")
    table = training.final_metrics(_history(), study)
    assert list(table.index) == ["total loss", "BCE (summed pixels)", "PSNR [dB]"]
    assert table.loc["total loss", "ours, training"] == 7.0
    assert table.loc["BCE (summed pixels)", "ours, validation"] == 4.5
    assert table.loc["BCE (summed pixels)", "study, training"] == 5.9
    assert np.isnan(table.loc["PSNR [dB]", "study, validation"])


def test_final_metrics_default_to_table_3_1():
    table = training.final_metrics(_history())
    assert table.loc["PSNR [dB]", "study, validation"] == TABLE_3_1.values["psnr"][1]


def test_size_totals_sum_each_layer_table():
    encoder = pd.DataFrame({"parameters": [10, 5], "MACs": [100, 0]})
    decoder = pd.DataFrame({"parameters": [7], "MACs": [70]})
    totals = training.size_totals({"encoder": encoder, "decoder": decoder})
    assert totals.to_dict() == {"parameters": {"encoder": 15, "decoder": 7},
                                "MACs per image": {"encoder": 100, "decoder": 70}}


def _layer(name: str, *weights: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(name=name, get_weights=lambda: list(weights))


def test_kernels_keep_layers_with_a_matrix_kernel():
    conv = np.arange(12.0).reshape(2, 2, 3, 1)
    network = SimpleNamespace(layers=[
        _layer("input"), _layer("conv", conv, np.zeros(1)), _layer("norm", np.ones(3)),
        _layer("dense", np.ones((4, 2)), np.zeros(2))])
    out = training.kernels(network)
    assert list(out) == ["conv", "dense"]
    np.testing.assert_array_equal(out["conv"], np.arange(12.0))
    assert out["dense"].shape == (8,)


def test_reconstruction_spread_limits_and_hand_value():
    images = unit_sum_images(20)
    assert training.reconstruction_spread(images, images) == pytest.approx(100.0)
    same = np.repeat(images[:1], 20, axis=0)
    assert training.reconstruction_spread(images, same) == pytest.approx(0.0, abs=1e-3)
    mean = images.mean(0)
    assert training.reconstruction_spread(images, mean + 0.5 * (images - mean)) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="N >= 2"):
        training.reconstruction_spread(images[:1], images[:1])
