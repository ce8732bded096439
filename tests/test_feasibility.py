"""The feasibility study (src.fpga.feasibility) and the search's hls4ml mapping (src.fpga.search)
on hand-made estimate tables and small models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes import hand_quantized_model

from src.backend import keras  # sets up TensorFlow for QKeras and hls4ml: import it first

# isort: split

from src.compress.quantize import reduced_spec
from src.config import get_profile
from src.fpga import crosscheck, estimate, feasibility, search
from src.fpga.convert import convert
from src.models.networks import build_encoder

RESOURCES = ["DSP", "LUT", "FF", "BRAM_18K"]


@pytest.fixture(scope="module")
def reduced_encoder():
    """The untrained float reduced encoder of the default profile: the layers and shapes of the
    book's firmware model."""
    keras.utils.set_random_seed(0)
    return build_encoder(reduced_spec(get_profile("default")))


def _design(latency_ns: float, lut: float, dsp: float) -> pd.Series:
    return pd.Series({"latency_ns": latency_ns, "LUT_%": lut, "DSP_%": dsp, "II_cycles": 50})


def _estimate_total(dsp: float, lut: float, latency_ns: float, ii: int) -> pd.DataFrame:
    """An estimate table reduced to its ``total`` row."""
    row = {"DSP_%": dsp, "LUT_%": lut, "FF_%": 1.0, "BRAM_18K_%": 2.0, "latency_ns": latency_ns,
           "II_cycles": ii}
    return pd.DataFrame({"total": row}).T


def test_targets_and_budgets():
    targets = feasibility.TARGETS
    assert targets.budget == {"DSP": 10.0, "LUT": 10.0}
    assert targets.budget_name == "10% of DSP and LUT"
    assert feasibility.BUDGETS["whole U250"] == dict.fromkeys(RESOURCES, 100.0)


def test_verdict_table_by_hand():
    table = feasibility.verdict_table(_design(785.0, 7.7, 9.4), emu_auc=0.94599, qkeras_auc=0.946)
    assert list(table.index) == ["estimated latency at 200 MHz", "estimated latency, stretch goal",
                                 "estimated LUTs, % of U250", "estimated DSPs, % of U250",
                                 "emulated AUC minus QKeras AUC"]
    assert list(table["target"]) == ["<= 1 µs", "< 200 ns", "<= 10%", "<= 10%", "within 0.01"]
    assert list(table["student"]) == ["785 ns", "785 ns", "7.7%", "9.4%", "0.0000"]  # no -0.0000
    assert list(table["met"]) == ["yes", "no", "yes", "yes", "yes"]
    # 1.2 µs, 12% of the LUTs and an AUC 0.02 off miss their targets
    missed = feasibility.verdict_table(_design(1200.0, 12.0, 3.0), 0.90, 0.92)
    assert list(missed["met"]) == ["no", "no", "no", "yes", "no"]
    assert missed.loc["emulated AUC minus QKeras AUC", "student"] == "-0.0200"


def test_meets_targets():
    assert feasibility.meets_targets(_design(1000.0, 10.0, 10.0), 0.01)
    assert not feasibility.meets_targets(_design(1000.5, 1.0, 1.0), 0.0)
    assert not feasibility.meets_targets(_design(100.0, 1.0, 10.5), 0.0)
    assert not feasibility.meets_targets(_design(100.0, 1.0, 1.0), -0.011)


def test_verdict_text_from_the_numbers():
    tuned = {("reduced encoder", "10% of DSP and LUT"): None,
             ("reduced encoder", "whole U250"): ({}, _estimate_total(99.6, 65.2, 8640.0, 160))}
    text = feasibility.verdict_text(tuned, _design(785.0, 7.7, 9.4), -4.3e-6, 46_416)
    # Table 3.5: 6,189,696 LUTs of 1,728,000 = 358%
    assert text.startswith("The study's encoder did not fit: one block of it alone was estimated "
                           "at 358% of the U250's LUTs.")
    assert ("100% of the DSPs and 65% of the LUTs (estimated) for a latency of 8.6 µs and a new "
            "image every 800 ns; it cannot be squeezed into 10% of the DSPs and LUTs at all.") in text
    assert ("The student meets the targets: an estimated 785 ns at 200 MHz with 7.7% of the LUTs "
            "and 9.4% of the DSPs, and an emulated AUC 0.0000 from its QKeras twin's.") in text
    # 200 ns at 5 ns are 40 cycles: 46,416 / 40 = 1,160 multipliers; 10% of 12,288 DSPs = 1,229
    assert "40 clock cycles: its 46,416 multiplications per jet would keep 1,160 multipliers" in text
    assert "against 1,229 DSPs in 10% of the device" in text

    tuned[("reduced encoder", "10% of DSP and LUT")] = ({}, _estimate_total(9.0, 9.9, 52_400.0, 9))
    tuned[("reduced encoder", "whole U250")] = None
    fast = feasibility.verdict_text(tuned, _design(150.0, 12.0, 9.0), 0.02, 1000)
    assert "does not fit one U250 under any setting we estimated; within 10% of the DSPs and " \
           "LUTs its latency grows to 52 µs." in fast
    assert fast.endswith("The student misses at least one target (table above): an estimated "
                         "150 ns with 12.0% of the LUTs and 9.0% of the DSPs, an emulated AUC "
                         "0.0200 from its QKeras twin's.")


def test_hits_count_settings_within_every_target():
    scans = {"a": pd.DataFrame({"latency_ns": [900.0, 1000.0, 1001.0, 500.0],
                                "DSP_%": [10.0, 1.0, 1.0, 11.0], "LUT_%": [10.0, 1.0, 1.0, 1.0]}),
             "b": pd.DataFrame({"latency_ns": [2000.0], "DSP_%": [1.0], "LUT_%": [1.0]})}
    assert feasibility.hits(scans) == {"a": 2, "b": 0}


def test_tuned_summary_by_hand():
    tuned = {("m", "small"): None, ("m", "big"): ({}, _estimate_total(50.0, 20.0, 900.0, 30))}
    summary = feasibility.tuned_summary(tuned, clock_period=4.0)
    assert list(summary.index) == [("m", "small"), ("m", "big")]
    assert summary.index.names == ["model", "budget"]
    assert not summary.loc[("m", "small"), "fits"] and summary.loc[("m", "big"), "fits"]
    big = summary.loc[("m", "big")]
    assert (big["DSP %"], big["LUT %"], big["latency [ns]"], big["II [ns]"]) == (50, 20, 900, 120)
    assert np.isnan(summary.loc[("m", "small"), "II [ns]"])


def test_compare_blocks_by_hand():
    study = pd.DataFrame({"DSP": [10, 20], "LUT": [100, 200], "FF": [0, 0], "BRAM_18K": [1, 2]},
                         index=["block A", "block B"])
    ours = pd.DataFrame({"DSP": [1, 2, 4], "LUT": [1000, 0, 5], "FF": [3, 3, 3],
                         "BRAM_18K": [0, 0, 1]}, index=["conv", "norm", "dense"])
    table = feasibility.compare_blocks(study, {"ours": ours},
                                       {"block A": ["conv", "norm"], "block B": ["dense"]})
    assert list(table.index) == [("block A", "study (Vivado HLS)"), ("block A", "ours"),
                                 ("block B", "study (Vivado HLS)"), ("block B", "ours")]
    assert table.loc[("block A", "ours"), RESOURCES].tolist() == [3, 1000, 6, 0]
    assert table.loc[("block B", "ours"), RESOURCES].tolist() == [4, 5, 3, 1]
    # 12,288 DSPs and 1,728,000 LUTs in a U250
    assert table.loc[("block B", "study (Vivado HLS)"), "DSP %"] == pytest.approx(100 * 20 / 12_288)
    assert table.loc[("block A", "ours"), "LUT %"] == pytest.approx(100 * 1000 / 1_728_000)


def test_the_study_blocks_are_layers_of_the_reduced_encoder(reduced_encoder):
    names = {layer.name for layer in reduced_encoder.layers}
    for block, members in feasibility.BLOCKS.items():
        assert set(members) <= names, block
    # conv2_b0_0: (20, 20, 16) -> 20 channels; conv2_b1_1: (10, 10, 20) -> 4 channels
    assert feasibility.conv_shape(reduced_encoder, "dconv_b1") == (20, 20, 16, 20)
    assert feasibility.conv_shape(reduced_encoder, "dconv_b2") == (10, 10, 20, 4)


def test_eq314_with_our_shapes(reduced_encoder):
    ours = pd.DataFrame({"DSP": [32.0, 2.0], "LUT": [160.0, 10.0], "FF": [1.0, 1.0],
                         "BRAM_18K": [5.0, 1.0]},
                        index=pd.MultiIndex.from_tuples(
                            [("conv2_b0_0", feasibility.ALL_PIXELS),
                             ("conv2_b1_1", feasibility.ALL_PIXELS)], names=["block", "source"]))
    result = feasibility.eq314(reduced_encoder, ours)
    assert result.factor == 16.0 and (result.target, result.reference) == ((20, 20, 16, 20),
                                                                           (10, 10, 20, 4))
    # Table 3.5's conv2_b1_1 row (47 DSP, 386,856 LUT, 14,346 FF, 18 BRAM) times 16
    assert [result.scaled[k] for k in RESOURCES] == [752, 6_189_696, 229_536, 288]
    assert result.table["ours: ratio of the two blocks"].tolist() == [16, 16, 1, 5]
    assert result.table["% of U250"]["LUT"] == pytest.approx(100 * 6_189_696 / 1_728_000)
    assert result.glue_values() == {"rho": "16", "study_lut_pct": 358,
                                    "study_printed_d_out": "10 and 5", "our_d_out": "20 and 4",
                                    "study_b11_dsp": "47", "study_b11_lut": "386,856"}


def test_scan_grid_and_scan_models():
    grid = feasibility.SCAN_GRID
    assert len(grid) == 14
    assert sum(s["io_type"] == "io_stream" for s in grid) == 3
    assert sum(s["strategy"] == "Resource" for s in grid) == 3
    assert [s["parallelization_factor"] for s in grid[:2]] == [1, None]
    scans = feasibility.scan_models({"small": hand_quantized_model()}, grid=grid[:3])
    single = estimate.estimate_model(hand_quantized_model(), reuse_factor=1,
                                     parallelization_factor=None).loc["total"]
    assert list(scans) == ["small"] and len(scans["small"]) == 3
    assert scans["small"].loc[1, "DSP"] == single.DSP  # R = 1, all pixels per pass


def test_reference_estimates_and_layer_table():
    model = hand_quantized_model()
    reference = feasibility.reference_estimates({"small": model})["small"]
    by_hand = estimate.estimate_model(model, parallelization_factor=1)
    pd.testing.assert_frame_equal(reference, by_hand)
    table = feasibility.layer_table(reference)
    assert list(table.columns) == [*feasibility.LAYER_COLUMNS, "DSP_% VU13P", "LUT_% VU13P"]
    # the VU13P has the U250's resources
    np.testing.assert_allclose(table["DSP_% VU13P"].astype(float), table["DSP_%"].astype(float))


def test_tune_models_and_products_in_luts():
    model = hand_quantized_model()
    tuned = feasibility.tune_models({"small": model},
                                    {"roomy": {"DSP": 50.0, "LUT": 50.0}, "none": {"LUT": 0.01}},
                                    reuse_factors=(1, 2, 4))
    assert list(tuned) == [("small", "roomy"), ("small", "none")]
    assert tuned["small", "none"] is None
    settings, table = tuned["small", "roomy"]
    assert set(settings["reuse_factor"]) == {"conv", "dense"}
    products, latency = feasibility.products_in_luts(model, table, {"DSP": 50.0, "LUT": 50.0})
    assert list(products.index) == ["products in DSPs (our rule)", "products in LUTs"]
    assert products.loc["products in LUTs", "DSP"] == 0  # every 16-bit product in LUTs
    assert latency == products.loc["products in LUTs", "latency_ns"]


def test_layer_config_and_settings_table_by_hand():
    settings = {"reuse_factor": {"conv0": 1, "conv1": 4, "dense": 16},
                "parallelization_factor": {"conv0": 10, "conv1": 2}}
    assert search.layer_config(settings) == {
        "conv0": {"ReuseFactor": 1, "ParallelizationFactor": 10},
        "conv1": {"ReuseFactor": 4, "ParallelizationFactor": 2},
        "dense": {"ReuseFactor": 16}}
    table = search.settings_table(settings)
    assert list(table.index) == ["conv0", "conv1", "dense"] and table.index.name == "layer"
    assert table["reuse factor"].tolist() == [1, 4, 16]
    assert table["pixels per pass"].tolist()[:2] == [10, 2] and pd.isna(table.loc["dense",
                                                                                  "pixels per pass"])
    with pytest.raises(ValueError, match="no reuse factor"):
        search.layer_config({"reuse_factor": {}, "parallelization_factor": {"conv": 2}})


def test_tuned_layer_config_reaches_hls4ml(tmp_path):
    """tune -> layer_config -> convert: hls4ml keeps every per-layer factor (no g++)."""
    model = hand_quantized_model()
    settings, table = search.tune(model, {"DSP": 5.0, "LUT": 5.0}, reuse_factors=(1, 2, 4, 8))
    hls_model = convert(model, tmp_path / "prj", layer_config=search.layer_config(settings))
    check = crosscheck.compare_with_hls4ml(table, hls_model)
    assert (check["reuse_hls4ml"] == check["reuse_estimate"]).all()
    # the convolution's 16-bit kernel has no zero weights: hls4ml plans exactly our multipliers,
    # in 64 / PF passes over its 8 x 8 output pixels
    assert check.loc["conv", "multiplier_limit_hls4ml"] == check.loc["conv", "multipliers_estimate"]
    passes = crosscheck.hls4ml_layer_table(hls_model).loc["conv", "passes"]
    assert passes == 64 // settings["parallelization_factor"]["conv"]
    stacked = crosscheck.compare_models({"small": table}, {"small": hls_model})
    assert stacked.index.names == ["model", "layer"]
    pd.testing.assert_frame_equal(stacked.loc["small"], check.rename_axis("layer"))
