"""Verilog generation (src.fpga.rtl) on a tiny seeded network: fixed-point casts, canonical
signed digits, the integer reference against a plain-Python evaluation, and the Verilog's
shape. Fast: no hls4ml, no tools (tests/test_synth.py runs the RTL)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from src.fpga.rtl import AvgPool, Dense, Fixed, Network, Relu, csd, reference, verilog


def tiny_network(rng: np.random.Generator) -> Network:
    """4x4 unsigned 8-bit image -> 2x2 average pool -> dense 4x3 -> ReLU -> dense 3x1."""
    x = Fixed(8, 0, signed=False)
    relu = Fixed(6, 2, signed=False, rounding=True, saturate=True)
    return Network(x, (4, 4, 1), (
        AvgPool(2, (4, 4, 1), Fixed(12, 2, signed=False), Fixed(8, 0, signed=False)),
        Dense(rng.integers(-128, 128, (4, 3)), 5, rng.integers(-128, 128, 3), 5,
              Fixed(19, 6), Fixed(19, 6)),
        Relu(relu),
        Dense(rng.integers(-128, 128, (3, 1)), 5, rng.integers(-128, 128, 1), 5,
              Fixed(17, 8), Fixed(17, 8)),
    ))


def test_csd_digits_sum_to_the_value_without_neighbours():
    for value in [*range(-300, 300), 2**20 - 1, -(2**19) + 3]:
        digits = csd(value)
        assert sum(d << k for k, d in digits) == value
        shifts = [k for k, _ in digits]
        assert all(b - a > 1 for a, b in zip(shifts, shifts[1:], strict=False))
    assert len(csd(0b0111_1111)) == 2  # 128 - 1


@pytest.mark.parametrize("value, expected", [(0b1010, 2), (0b1110, 4), (0b0110, 2),
                                             (0b0111, 2), (-0b1010, -2), (-0b0110, -2)])
def test_round_half_to_even(value, expected):
    # two fractional bits dropped: 2.5 -> 2, 3.5 -> 4, 1.5 -> 2, 1.75 -> 2
    assert Fixed(8, 8, rounding=True).cast(np.array([value]), 2)[0] == expected


def test_truncation_wraps_and_saturation_clips():
    wrap, sat = Fixed(4, 4), Fixed(4, 4, saturate=True)
    assert wrap.cast(np.array([9, -9, -3]), 0).tolist() == [-7, 7, -3]
    assert sat.cast(np.array([9, -9, -3]), 0).tolist() == [7, -8, -3]
    assert Fixed(4, 4).cast(np.array([-5]), 1)[0] == -3  # floor(-2.5)
    assert Fixed(3, 3, signed=False).cast(np.array([9]), 0)[0] == 1  # unsigned wrap


def _plain(network: Network, codes: np.ndarray) -> list[float]:
    """The network on one image with Python floats and math.floor/round: values, not codes."""
    pool, dense, relu, score = network.layers
    x = codes.reshape(4, 4) / 2.0**network.input.frac
    step = 2.0 ** -pool.result.frac
    pooled = [math.floor(x[i:i + 2, j:j + 2].sum() / 4 / step) * step
              for i in (0, 2) for j in (0, 2)]
    hidden = [sum(p * w / 2**5 for p, w in zip(pooled, dense.weights[:, j], strict=True))
              + dense.bias[j] / 2**5 for j in range(3)]
    top = (2**relu.result.width - 1) / 2**relu.result.frac
    act = [min(round(h * 2**relu.result.frac) / 2**relu.result.frac, top) if h > 0 else 0.0
           for h in hidden]  # Python's round is half to even
    return [sum(a * w / 2**5 for a, w in zip(act, score.weights[:, 0], strict=True))
            + score.bias[0] / 2**5]


def test_reference_matches_a_plain_python_evaluation(rng):
    network = tiny_network(rng)
    codes = rng.integers(0, 256, (200, 16))
    out = reference(network, codes) / 2.0**network.output.frac
    assert out.shape == (200, 1)
    expected = np.array([_plain(network, c) for c in codes])
    np.testing.assert_array_equal(out, expected)
    assert len(np.unique(out)) > 20  # the test exercises a spread of values


def test_reference_rejects_an_inexact_accumulator(rng):
    network = tiny_network(rng)
    pool, dense, *rest = network.layers
    narrow = Dense(dense.weights, 5, dense.bias, 5, Fixed(10, 6), Fixed(10, 6))
    with pytest.raises(ValueError, match="not the exact one"):
        reference(Network(network.input, network.input_shape, (pool, narrow, *rest)),
                  np.zeros((1, 16), np.int64))


def test_verilog_is_a_pipelined_module_without_multipliers(rng):
    network = tiny_network(rng)
    design = verilog(network, module="tiny", levels_per_stage=1)
    src = design.source
    assert src.startswith("module tiny (") and src.rstrip().endswith("endmodule")
    assert "*" not in src  # constant products are shifts and adds
    assert f"input wire [{16 * 8 - 1}:0] x" in src
    assert design.n_inputs == 16 and design.input_bits == 8
    assert design.multiplications == np.count_nonzero(network.layers[1].weights) + \
        np.count_nonzero(network.layers[3].weights)
    # one register stage per adder level here: input, 2 pool levels, dense, ReLU, score, output
    registers = len(re.findall(r"always @\(posedge clk\) r\d+", src))
    assert design.latency >= 6 and registers > 16
    assert design.adders >= 4 * 3  # four 4-input pool sums at least
    slower = verilog(network, module="tiny", levels_per_stage=4)
    assert slower.latency < design.latency and slower.adders == design.adders
