"""One block of the study's Table 3.5 measured: a convolution's constant products synthesized.

The study's Vivado HLS run lists 47 DSPs beside 386,856 LUTs for its block "conv2_b1_1" (our
``dconv_b2``: a strided 3x3 convolution with its instance normalization and activation, all
output pixels at once), where :mod:`src.fpga.estimate` puts thousands of 16-bit products into
DSPs. :func:`block_report` writes one output pixel of that convolution, converted with the
study's ``ap_fixed<16,6>`` types, as a network of constant products (:mod:`src.fpga.rtl`: each
product by a fixed weight as shifted additions), checks it with Verilator and synthesizes it
with Yosys; the report is stored beside the reduced encoder (``synth/<block>.json``, keyed by
the RTL's digest) and read back where the tools are missing. :func:`block_table` sets it beside
the study's row and the estimator's. Only the products are measured: the normalization's
products by variable values and the activation are not in the RTL.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Profile
from ..study import TABLE_3_5
from .convert import REFERENCE_IMPLEMENTATION, convert, quiet
from .estimate import estimate_model
from .exact import STUDY_TYPES
from .feasibility import BLOCKS
from .firmware import book_models, model_dirs
from .fixedpoint import FixedType
from .rtl import Dense, Network, fixed_codes, verilog
from .synth import SYNTH_DIR, rtl_report, simulate, synthesize

#: The study's block that is measured, and its convolution in our reduced encoder.
BLOCK = "conv2_b1_1"
CONV = BLOCKS[BLOCK][0]
#: Random input codes the Verilator check runs.
CHECK_INPUTS = 300
#: Rows of :func:`block_table`: the study's, and the synthesized pixel.
STUDY_ROW = "study (Vivado HLS), whole block"
PIXEL_ROW = "Yosys, convolution's products, one pixel"
#: Names of :func:`glue_values` (chapter 8 fills them with a placeholder when nothing is measured).
GLUE_NAMES = ("blk_study_dsp", "blk_study_lut", "blk_est_dsp", "blk_products", "blk_pixel_lut",
              "blk_pixels", "blk_all_lut", "blk_check_inputs", "blk_mismatches", "blk_est_conv_lut",
              "blk_est_ratio")


def pixel_network(hls_model: Any, conv: str = CONV) -> tuple[Network, int]:
    """One output pixel of the hls4ml ``Conv2D`` node ``conv`` as a dense layer over its
    ``k x k x C_in`` input patch (the kernel's zero entries, such as a grouped convolution's,
    cost nothing), with the node's input, weight, accumulator and result types; and the
    number of output pixels."""
    node = hls_model.graph[conv]
    weight, bias = node.weights["weight"], node.weights["bias"]
    w_type, b_type = FixedType.of(weight.type.precision), FixedType.of(bias.type.precision)
    kernel = np.asarray(weight.data, np.float64)
    kernel = kernel.reshape(-1, kernel.shape[-1])
    dense = Dense(fixed_codes(kernel, w_type.fractional), w_type.fractional,
                  fixed_codes(np.asarray(bias.data, np.float64), b_type.fractional),
                  b_type.fractional, FixedType.of(node.get_attr("accum_t").precision),
                  FixedType.of(node.get_output_variable().type.precision))
    network = Network(FixedType.of(node.get_input_variable().type.precision),
                      (len(kernel),), (dense,))
    height, width = (int(d) for d in node.get_output_variable().shape[:2])
    return network, height * width


def _check(network: Network, design, workdir: Path, seed: int) -> int:
    """Mismatches of the first output between Verilator and exact NumPy arithmetic on
    :data:`CHECK_INPUTS` random input codes."""
    dense, source = network.layers[0], network.input
    lo, hi = source.code_bounds
    codes = np.random.default_rng(seed).integers(lo, hi + 1, (CHECK_INPUTS, network.input_shape[0]))
    exact = (codes * 2.0 ** -source.fractional) @ (dense.weights * 2.0 ** -dense.weight_frac) \
        + dense.bias * 2.0 ** -dense.bias_frac
    want = dense.result.cast(exact[:, 0]) * 2.0 ** dense.result.fractional
    return int(np.count_nonzero(simulate(design, codes, workdir) != want.astype(np.int64)))


def block_report(profile: Profile) -> dict[str, Any] | None:
    """The synthesis of one output pixel of :data:`CONV` (see the module docstring), kept in
    ``models/<profile>/reduced_q16_6/synth/<BLOCK>.json`` by :func:`src.fpga.synth.rtl_report`:
    read while its RTL is unchanged, else measured with Yosys and Verilator; None without the
    tools or a report."""
    encoder = book_models(profile)["reduced encoder"]
    with tempfile.TemporaryDirectory() as tmp, quiet():
        hls_model = convert(encoder, tmp, write=False, **REFERENCE_IMPLEMENTATION, **STUDY_TYPES)
    network, pixels = pixel_network(hls_model)
    design = verilog(network, module="block")

    def measure(versions: dict[str, str | None]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "sim").mkdir()
            mismatches = _check(network, design, Path(tmp) / "sim", profile.seed)
            yosys = synthesize(design, Path(tmp))
        return {"block": BLOCK, "layer": CONV, "pixels": pixels,
                "products": network.multiplications, "patch": network.input_shape[0],
                "rtl": {"adders": design.adders, "latency_cycles": design.latency},
                "verilator": {"inputs": CHECK_INPUTS, "mismatches": mismatches,
                              "version": versions["verilator"]},
                "yosys": {**{k: yosys[k] for k in ("LUT", "FF", "CARRY", "DSP48E2", "command")},
                          "version": versions["yosys"]}}

    path = model_dirs(profile)["reduced encoder"] / SYNTH_DIR / f"{BLOCK}.json"
    return rtl_report(path, design, False, measure)


def _estimate_row(mapping: str, part: str) -> str:
    return f"estimator, products in {mapping}, {part}"


def _all_pixels_row(pixels: int) -> str:
    return f"Yosys, convolution's products, x {pixels} pixels"


def block_table(report: dict[str, Any], encoder: Any) -> pd.DataFrame:
    """DSP, LUT and FF of the study's block beside the estimator's (all output pixels at once,
    products in DSPs or in LUTs, the whole block and its convolution alone) and the Yosys
    synthesis of the convolution's products (one pixel, and times the pixels)."""
    _, dsp, lut, ff, _ = TABLE_3_5.values[BLOCK]
    rows = {STUDY_ROW: (dsp, lut, ff)}
    for mapping, threshold in (("DSPs", 0), ("LUTs", 64)):
        table = estimate_model(encoder, parallelization_factor=None,
                               dsp_threshold_bits=threshold)
        block = table.loc[BLOCKS[BLOCK], ["DSP", "LUT", "FF"]]
        rows[_estimate_row(mapping, "whole block")] = tuple(block.sum())
        rows[_estimate_row(mapping, "convolution")] = tuple(block.loc[CONV])
    ys, n = report["yosys"], report["pixels"]
    rows[PIXEL_ROW] = (ys["DSP48E2"], ys["LUT"], ys["FF"])
    rows[_all_pixels_row(n)] = (n * ys["DSP48E2"], n * ys["LUT"], n * ys["FF"])
    return pd.DataFrame(rows, index=["DSP", "LUT", "FF"]).T.astype(int)


def glue_values(report: dict[str, Any], table: pd.DataFrame) -> dict[str, str]:
    """The numbers chapter 8 cites, by :data:`GLUE_NAMES`, as it prints them."""
    study, all_pixels = table.loc[STUDY_ROW], table.loc[_all_pixels_row(report["pixels"])]
    est_lut = table.loc[_estimate_row("LUTs", "convolution"), "LUT"]
    return {"blk_study_dsp": f"{study['DSP']:,}", "blk_study_lut": f"{study['LUT']:,}",
            "blk_est_dsp": f"{table.loc[_estimate_row('DSPs', 'whole block'), 'DSP']:,}",
            "blk_products": f"{report['products']:,}",
            "blk_pixel_lut": f"{report['yosys']['LUT']:,}", "blk_pixels": f"{report['pixels']}",
            "blk_all_lut": f"{all_pixels['LUT']:,}", "blk_check_inputs": f"{CHECK_INPUTS}",
            "blk_mismatches": f"{report['verilator']['mismatches']}",
            "blk_est_conv_lut": f"{est_lut:,}", "blk_est_ratio": f"{est_lut / all_pixels['LUT']:.1f}"}
