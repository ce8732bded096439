"""Verilog generation (src.fpga.rtl) on tiny hand-made networks: canonical signed digits, the
Verilog's shape and checks, and (with Verilator) the RTL's casts against FixedType's and the
RTL of a tiny seeded network against a plain-Python evaluation. No hls4ml (tests/test_synth.py
compares the RTL of an hls4ml model with FirmwareModel and the C++)."""

from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest

from src.fpga.fixedpoint import FixedType
from src.fpga.rtl import AvgPool, Dense, Network, Relu, csd, verilog

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="no verilator")


def tiny_network(rng: np.random.Generator) -> Network:
    """4x4 unsigned 8-bit image -> 2x2 average pool -> dense 4x3 -> ReLU -> dense 3x1."""
    x = FixedType(8, 0, signed=False)
    relu = FixedType(6, 2, signed=False, rounding="RND_CONV", saturation="SAT")
    return Network(x, (4, 4, 1), (
        AvgPool(2, (4, 4, 1), FixedType(12, 2, signed=False), FixedType(8, 0, signed=False)),
        Dense(rng.integers(-128, 128, (4, 3)), 5, rng.integers(-128, 128, 3), 5,
              FixedType(19, 6), FixedType(19, 6)),
        Relu(relu),
        Dense(rng.integers(-128, 128, (3, 1)), 5, rng.integers(-128, 128, 1), 5,
              FixedType(17, 8), FixedType(17, 8)),
    ))


def simulated(network: Network, codes: np.ndarray, workdir) -> np.ndarray:
    """Output values of the network's RTL for input codes, simulated with Verilator."""
    from src.fpga.synth import simulate  # imports Keras: only where Verilator runs

    design = verilog(network, module="tiny", levels_per_stage=1)
    return simulate(design, codes, workdir) / 2.0**network.output.fractional


def cast_network(to: FixedType) -> Network:
    """``to`` of a signed 8-bit input with two fractional bits: an identity dense layer."""
    x = FixedType(8, 6)
    return Network(x, (1,), (Dense(np.ones((1, 1), np.int64), 0, np.zeros(1, np.int64), 0,
                                   x, to),))


def test_csd_digits_sum_to_the_value_without_neighbours():
    for value in [*range(-300, 300), 2**20 - 1, -(2**19) + 3]:
        digits = csd(value)
        assert sum(d << k for k, d in digits) == value
        shifts = [k for k, _ in digits]
        assert all(b - a > 1 for a, b in zip(shifts, shifts[1:], strict=False))
    assert len(csd(0b0111_1111)) == 2  # 128 - 1


@pytest.mark.hls
@needs_verilator
@pytest.mark.parametrize("to", [
    FixedType(8, 8, rounding="RND_CONV"),  # round half to even: 2.5 -> 2, 3.5 -> 4
    FixedType(8, 7, rounding="RND_CONV", saturation="SAT"),
    FixedType(4, 4),  # truncation toward minus infinity, wrap-around
    FixedType(4, 4, saturation="SAT"),
    FixedType(3, 3, signed=False),  # unsigned wrap
    FixedType(5, 4, signed=False, rounding="RND_CONV", saturation="SAT"),  # a ReLU's type
    FixedType(10, 6),  # exact: wider, more fractional bits
], ids=str)
def test_rtl_casts_are_those_of_fixed_type(to, tmp_path):
    network = cast_network(to)
    codes = np.arange(-128, 128)[:, None]
    expected = to.cast(codes / 4.0)
    out = simulated(network, codes & 0xFF, tmp_path)  # the input port's bits
    np.testing.assert_array_equal(out, expected[:, 0])
    assert len(np.unique(expected)) > 4


def test_rtl_refuses_casts_it_does_not_implement():
    with pytest.raises(ValueError, match="AP_TRN or AP_RND_CONV"):
        verilog(cast_network(FixedType(8, 8, rounding="RND")))
    with pytest.raises(ValueError, match="AP_WRAP or AP_SAT"):
        verilog(cast_network(FixedType(4, 4, saturation="SAT_SYM")))
    verilog(cast_network(FixedType(10, 6, rounding="RND", saturation="SAT_SYM")))  # exact


def _plain(network: Network, codes: np.ndarray) -> list[float]:
    """The network on one image with Python floats and math.floor/round: values, not codes."""
    pool, dense, relu, score = network.layers
    x = codes.reshape(4, 4) / 2.0**network.input.fractional
    step = 2.0 ** -pool.result.fractional
    pooled = [math.floor(x[i:i + 2, j:j + 2].sum() / 4 / step) * step
              for i in (0, 2) for j in (0, 2)]
    hidden = [sum(p * w / 2**5 for p, w in zip(pooled, dense.weights[:, j], strict=True))
              + dense.bias[j] / 2**5 for j in range(3)]
    f = relu.result.fractional
    top = (2**relu.result.width - 1) / 2**f
    act = [min(round(h * 2**f) / 2**f, top) if h > 0 else 0.0
           for h in hidden]  # Python's round is half to even
    return [sum(a * w / 2**5 for a, w in zip(act, score.weights[:, 0], strict=True))
            + score.bias[0] / 2**5]


@pytest.mark.hls
@needs_verilator
def test_rtl_matches_a_plain_python_evaluation(rng, tmp_path):
    network = tiny_network(rng)
    codes = rng.integers(0, 256, (200, 16))
    out = simulated(network, codes, tmp_path)
    assert out.shape == (200,)  # one image per clock, all came out
    expected = np.array([_plain(network, c) for c in codes])[:, 0]
    np.testing.assert_array_equal(out, expected)
    assert len(np.unique(out)) > 20  # the test exercises a spread of values


def test_verilog_rejects_an_inexact_accumulator(rng):
    network = tiny_network(rng)
    pool, dense, *rest = network.layers
    narrow = Dense(dense.weights, 5, dense.bias, 5, FixedType(10, 6), FixedType(10, 6))
    with pytest.raises(ValueError, match="not the exact one"):
        verilog(Network(network.input, network.input_shape, (pool, narrow, *rest)))
    wide = AvgPool(2, (4, 4, 1), FixedType(10, 2, signed=False), pool.result)
    with pytest.raises(ValueError, match="not exact"):
        verilog(Network(network.input, network.input_shape, (wide, dense, *rest)))


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
