"""One output pixel of a convolution as constant-product RTL (the study's Table 3.5 block):
its arithmetic against the hls4ml emulation, the Verilator check with signed inputs, and the
table beside the study's row."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from src.backend import keras, seed_everything

# isort: split
from qkeras import QConv2D, quantized_bits

from src.fpga import blocks, synth
from src.fpga.convert import REFERENCE_IMPLEMENTATION, convert, quiet
from src.fpga.fixedpoint import FirmwareModel
from src.fpga.rtl import verilog
from src.study import TABLE_3_5

needs_tools = pytest.mark.skipif(shutil.which("verilator") is None, reason="no verilator")


@pytest.fixture(scope="module")
def conv_model():
    """A strided 3x3 QKeras convolution, (5, 5, 2) -> (2, 2, 3), and its hls4ml model."""
    seed_everything(2)
    images = keras.Input((5, 5, 2), name="image")
    out = QConv2D(3, 3, strides=2, kernel_quantizer=quantized_bits(8, 3, alpha=1),
                  bias_quantizer=quantized_bits(8, 3, alpha=1), name="conv")(images)
    model = keras.Model(images, out)
    model.get_layer("conv").set_weights([np.random.default_rng(2).normal(0, 1, w.shape)
                                         for w in model.get_layer("conv").get_weights()])
    with tempfile.TemporaryDirectory() as tmp, quiet():
        hls_model = convert(model, tmp, write=False, **REFERENCE_IMPLEMENTATION)
    return model, hls_model


def _pixel_values(network, patches: np.ndarray) -> np.ndarray:
    """The pixel network's outputs on input values: exact sums cast to the result type."""
    dense = network.layers[0]
    x = network.input.cast(patches)
    exact = x @ (dense.weights * 2.0**-dense.weight_frac) + dense.bias * 2.0**-dense.bias_frac
    return dense.result.cast(exact)


def test_one_pixel_is_the_convolution_at_that_pixel(conv_model):
    model, hls_model = conv_model
    network, pixels = blocks.pixel_network(hls_model, "conv")
    assert pixels == 4 and network.input_shape == (18,)
    assert 0 < network.multiplications <= 3 * 3 * 2 * 3
    x = np.random.default_rng(3).uniform(-2, 2, (50, 5, 5, 2))
    firmware = FirmwareModel(hls_model).predict(x).reshape(50, 2, 2, 3)
    for row, col in ((0, 0), (1, 1)):
        patch = x[:, 2 * row:2 * row + 3, 2 * col:2 * col + 3, :].reshape(50, -1)
        np.testing.assert_array_equal(_pixel_values(network, patch), firmware[:, row, col])


@pytest.mark.hls
@needs_tools
def test_verilator_check_counts_signed_inputs(conv_model, tmp_path):
    network, _ = blocks.pixel_network(conv_model[1], "conv")
    assert network.input.signed
    design = verilog(network, module="block")
    assert blocks._check(network, design, tmp_path, seed=0) == 0


def test_block_table_sets_the_synthesis_beside_the_study():
    report = {"pixels": 25, "products": 179, "yosys": {"DSP48E2": 0, "LUT": 2_000, "FF": 1_000},
              "verilator": {"mismatches": 0}}
    encoder = _tiny_reduced_encoder()
    table = blocks.block_table(report, encoder)
    study = TABLE_3_5.values[blocks.BLOCK]
    assert tuple(table.loc[blocks.STUDY_ROW]) == tuple(study[1:4])
    assert table.loc["Yosys, convolution's products, x 25 pixels", "LUT"] == 50_000
    assert table.loc["estimator, products in LUTs, convolution", "DSP"] == 0
    assert table.loc["estimator, products in DSPs, convolution", "DSP"] > 0
    values = blocks.glue_values(report, table)
    assert set(values) == set(blocks.GLUE_NAMES)
    assert values["blk_all_lut"] == "50,000" and values["blk_study_dsp"] == f"{study[1]:,}"


def _tiny_reduced_encoder():
    """An encoder with the layer names of the study's block (the smoke profile's reduced one)."""
    from fakes import TINY_QUANTIZED_SPEC

    from src.models.networks import build_model
    from src.models.spec import ModelSpec

    seed_everything(4)
    spec = ModelSpec(**{**TINY_QUANTIZED_SPEC, "filters": (4, 4, 4), "depths": (1, 2, 1)})
    return build_model(spec).encoder


def test_missing_tools_and_report_give_none(monkeypatch, tmp_path):
    monkeypatch.setattr(synth, "tool_versions", lambda: {"yosys": None, "verilator": None})
    monkeypatch.setattr(blocks, "model_dirs", lambda profile: {"reduced encoder": Path(tmp_path)})
    monkeypatch.setattr(blocks, "book_models",
                        lambda profile: {"reduced encoder": _tiny_reduced_encoder()})
    assert blocks.block_report(object()) is None
