"""FPGA resource/latency estimates (src.fpga.estimate) against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import hand_quantized_model

from src.backend import keras  # sets up TensorFlow for QKeras and hls4ml: import it first

# isort: split
from qkeras import QDense, quantized_bits

from src.fpga import crosscheck, devices, estimate, feasibility, search
from src.fpga.convert import convert


def test_device_capacities():
    u250 = devices.device_capacity("xcu250-figd2104-2L-e")
    assert u250 == {"DSP": 12_288, "LUT": 1_728_000, "FF": 3_456_000, "BRAM_18K": 5_376, "URAM": 1_280}
    assert devices.device_capacity("XCVU13P-FLGA2577-2-E") == u250
    with pytest.raises(ValueError, match="unknown FPGA part"):
        devices.device_capacity("xc7a35t")


def test_hand_computed_latency_strategy():
    table = estimate.estimate_model(hand_quantized_model(), reuse_factor=2)
    conv, act, dense, total = (table.loc[k] for k in ("conv", "act", "dense", "total"))
    assert list(table.index) == ["conv", "act", "dense", "total"]

    # conv: 8*8 pixels * 3*3*2 inputs * 4 filters = 4608 products, 2304 multipliers at R = 2;
    # 16-bit weights x 16-bit input (> 10 bits): one DSP each; accumulator 16+16+ceil(log2 18) = 37
    # bits: LUT = 2304*37 = 85248, FF = 2304*32 + 256 outputs*37 = 83200; latency
    # R + 3 (DSP) + 5 (adder tree) + 1 = 11, II = R = 2
    assert (conv.mults, conv.parallel_mults, conv.DSP, conv.LUT, conv.FF, conv.BRAM_18K) == (
        4608, 2304, 2304, 85_248, 83_200, 0)
    assert (conv.latency_cycles, conv.II_cycles) == (11, 2)
    # activation on 256 values of the 16-bit conv output: 256*16 LUT and FF, one cycle
    assert (act.mults, act.DSP, act.LUT, act.FF, act.latency_cycles) == (0, 0, 4096, 4096, 1)
    # dense: 256*3 = 768 products, 384 multipliers; 8-bit weight x 8-bit activation (<= 10 bits):
    # constant multipliers in LUTs, ceil(64/3) = 22 LUT, plus a 8+8+8 = 24-bit adder:
    # LUT = 384*46 = 17664, FF = 384*16 + 3*24 = 6216; latency 2 + 1 + 8 + 1 = 12
    assert (dense.mults, dense.parallel_mults, dense.DSP, dense.LUT, dense.FF) == (
        768, 384, 0, 17_664, 6_216)
    assert (dense.latency_cycles, dense.II_cycles) == (12, 2)

    assert (total.mults, total.DSP, total.LUT, total.FF) == (5376, 2304, 107_008, 93_512)
    assert (total.latency_cycles, total.II_cycles) == (24, 2)
    assert total["DSP_%"] == pytest.approx(100 * 2304 / 12_288)  # 18.75 %
    assert total["latency_ns"] == pytest.approx(24 * 5.0)


def test_hand_computed_resource_strategy_and_stream():
    # Resource strategy, dense 256 -> 3 at R = 64, weights forced to 16 bits: weights in
    # 64 words of ceil(768/64)*16 = 192 bits -> 6 blocks of 512x36 (192/36 -> 6)
    table = estimate.estimate_model(
        hand_quantized_model(), reuse_factor={"default": 1, "dense": 64}, strategy="Resource",
        precision_overrides={"dense": {"weight": 16, "input": 16}})
    dense = table.loc["dense"]
    assert (dense.parallel_mults, dense.DSP, dense.BRAM_18K, dense.II_cycles) == (12, 12, 6, 64)
    assert table.loc["conv", "BRAM_18K"] == 0  # R = 1: weights stay in registers

    # io_stream conv: 64 input pixels read one per R = 2 cycles: latency 64*2 + 3 + 5 + 1 = 137;
    # 3*3*2*4 = 72 products per pixel -> 36 multipliers; output FIFO 64 words x 4*16 bits -> 2 BRAM
    stream = estimate.estimate_model(hand_quantized_model(), reuse_factor=2, io_type="io_stream")
    conv = stream.loc["conv"]
    assert (conv.parallel_mults, conv.DSP, conv.latency_cycles, conv.II_cycles, conv.BRAM_18K) == (
        36, 36, 137, 128, 2)


def test_groups_and_thresholds():
    grouped = estimate.estimate_model(hand_quantized_model(groups=2))
    assert grouped.loc["conv", "mults"] == 8 * 8 * 3 * 3 * (2 // 2) * 4
    lut_only = estimate.estimate_model(hand_quantized_model(), dsp_threshold_bits=16)
    # 16x16 constant products in LUTs: ceil(256/3) = 86 LUT + 37-bit adder, for 4608 multipliers
    assert lut_only.loc["conv", "DSP"] == 0
    assert lut_only.loc["conv", "LUT"] == 4608 * (86 + 37)
    with pytest.raises(ValueError, match="unknown layers"):
        estimate.estimate_model(hand_quantized_model(), precision_overrides={"nope": {"weight": 8}})
    with pytest.raises(ValueError, match="strategy"):
        estimate.estimate_model(hand_quantized_model(), strategy="Fast")


def test_eq_314_reproduces_table_3_5():
    # conv2_b0_0: (20, 20, 16) -> 20 channels; conv2_b1_1: (10, 10, 20) -> 4 channels, stride 2:
    # (10*10*16*20) / (5*5*20*4) = 32000 / 2000 = 16
    target, reference = (20, 20, 16, 20), (10, 10, 20, 4)
    assert feasibility.eq314_factor(target, reference) == 16.0
    scaled = feasibility.linear_scaling(
        {"DSP": 47, "LUT": 386_856, "FF": 14_346, "BRAM_18K": 18}, target, reference)
    # Table 3.5, conv2_b0_0: 752 (6 %) / 6,189,696 (358 %) / 229,536 (~7 %) / 288 (5 %)
    assert [scaled[k] for k in ("DSP", "LUT", "FF", "BRAM_18K")] == [752, 6_189_696, 229_536, 288]
    assert [round(scaled[f"{k}_%"]) for k in ("DSP", "LUT", "FF", "BRAM_18K")] == [6, 358, 7, 5]
    with pytest.raises(ValueError, match="positive"):
        feasibility.eq314_factor((20, 20, 16), reference)


def test_cross_check_with_hls4ml(tmp_path):
    """hls4ml's own counts agree; ungrouped zero blocks are not counted by either."""
    keras.utils.set_random_seed(1)
    model = hand_quantized_model(groups=2)
    for layer in model.layers:  # no accidental zero weights: only the ungrouping makes zeros
        layer.set_weights([np.where(np.abs(w) < 0.05, 0.25, w) for w in layer.get_weights()])
    # hls4ml 1.3 computes one output pixel per pass by default (ParallelizationFactor = 1)
    planned = estimate.estimate_model(model, reuse_factor=2, parallelization_factor=1)
    hls_model = convert(model, tmp_path / "prj", reuse_factor=2)
    check = crosscheck.compare_with_hls4ml(planned, hls_model)
    assert list(check.index) == ["conv", "dense"]
    assert (check["mults_ratio"] == 1).all()
    assert (check["reuse_hls4ml"] == 2).all()
    # conv: hls4ml's multipliers per pass are ceil(18*4/2) - 36 zeros/2 = 18; the estimate's
    # 3*3*1*4 grouped products per pixel / R = 18. dense: 256*3/2 = 384 for both
    assert check.loc["conv", "multiplier_limit_hls4ml"] == 18 == check.loc["conv", "multipliers_estimate"]
    assert check.loc["dense", "multiplier_limit_hls4ml"] == 384 == check.loc["dense", "multipliers_estimate"]
    assert hls4ml_passes(hls_model, "conv") == 64 == planned.loc["conv", "II_cycles"] // 2


def hls4ml_passes(hls_model, name: str) -> int:
    return int(crosscheck.hls4ml_layer_table(hls_model).loc[name, "passes"])


def _pool_model(average: bool) -> keras.Model:
    """Input (8, 8, 2) -> 2x2 pooling -> Flatten -> QDense 3 <8,3>."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2), name="image")
    pool = keras.layers.AveragePooling2D if average else keras.layers.MaxPooling2D
    x = pool(2, name="pool")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    x = QDense(3, kernel_quantizer=quantized_bits(8, 3, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="dense")(x)
    return keras.Model(inputs, x)


def test_hand_computed_pooling():
    # 4x4x2 = 32 outputs of 2x2 pools on 16-bit inputs: 3 comparators of 16 bits each (max), 3 adders
    # of 16 + 2 bits (average); one FF per output bit; latency log2(4) + 1 = 3 cycles
    pool = estimate.estimate_model(_pool_model(average=False)).loc["pool"]
    assert (pool.mults, pool.DSP, pool.LUT, pool.FF, pool.latency_cycles, pool.II_cycles) == (
        0, 0, 32 * 3 * 16, 32 * 16, 3, 1)
    avg = estimate.estimate_model(_pool_model(average=True)).loc["pool"]
    assert avg.LUT == 32 * 3 * 18
    # io_stream: one output pixel (2 values) at a time, 64 input pixels read one per cycle;
    # the line buffer (1 row of 8 pixels x 32 bits) stays in LUTRAM
    stream = estimate.estimate_model(_pool_model(average=False), io_type="io_stream").loc["pool"]
    assert (stream.LUT, stream.latency_cycles, stream.II_cycles, stream.BRAM_18K) == (2 * 3 * 16, 67, 64, 0)


def test_scan_and_study_table():
    settings = [{"reuse_factor": 1}, {"reuse_factor": 2, "strategy": "Resource"},
                {"reuse_factor": {"default": 1, "dense": 64}}]
    table = search.scan(hand_quantized_model(), settings, clock_period=4.0)
    assert list(table["reuse_factor"]) == [1, 2, "{'default': 1, 'dense': 64}"]
    single = estimate.estimate_model(hand_quantized_model(), reuse_factor=2, strategy="Resource",
                                          clock_period=4.0).loc["total"]
    assert table.loc[1, "DSP"] == single.DSP and table.loc[1, "latency_ns"] == single.latency_ns
    assert table.loc[1, "II_ns"] == 4.0 * single.II_cycles
    study = feasibility.study_table_3_5()
    assert list(study.index) == ["conv2_b0_0", "conv2_b1_1", "dconv_b2", "final block"]
    assert round(study.loc["conv2_b0_0", "LUT_%"]) == 358
    assert round(study.loc["final block", "BRAM_18K_%"]) == 7
    ratio = study.loc["conv2_b0_0", ["DSP", "LUT", "FF", "BRAM_18K"]] / study.loc[
        "conv2_b1_1", ["DSP", "LUT", "FF", "BRAM_18K"]]
    assert (ratio == 16).all()  # eq. 3.14's factor


def test_tune_stays_within_the_budget():
    model = hand_quantized_model()
    settings, table = search.tune(model, {"DSP": 1.0, "LUT": 2.0}, reuse_factors=(1, 2, 4, 8))
    assert set(settings["reuse_factor"]) == {"conv", "dense"}
    assert set(settings["parallelization_factor"]) == {"conv"}
    assert 64 % settings["parallelization_factor"]["conv"] == 0  # a divisor of the 8x8 output pixels
    total = table.loc["total"]
    assert total["DSP_%"] <= 1.0 and total["LUT_%"] <= 2.0
    again = estimate.estimate_model(
        model, reuse_factor=settings["reuse_factor"],
        parallelization_factor={"default": 1, **settings["parallelization_factor"]}).loc["total"]
    assert again.latency_cycles == total.latency_cycles and again.DSP == total.DSP
    # the cheapest setting (R = 8, one pixel per pass) is slower than the tuned one
    cheapest = estimate.estimate_model(model, reuse_factor=8, parallelization_factor=1).loc["total"]
    assert total.latency_cycles < cheapest.latency_cycles and cheapest.DSP <= 0.01 * 12_288
    # a bigger budget never gives a slower design; an impossible one is an error
    _, roomy = search.tune(model, {"DSP": 50.0, "LUT": 50.0}, reuse_factors=(1, 2, 4, 8))
    assert roomy.loc["total", "latency_cycles"] <= total.latency_cycles
    with pytest.raises(ValueError, match="exceed the budget"):
        search.tune(model, {"LUT": 0.01})
