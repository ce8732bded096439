"""Cross-check of the resource estimate against what hls4ml itself plans for a model.

:func:`hls4ml_layer_table` reads from a converted hls4ml model the products per pixel and
pass, the non-zero weights, the reuse factor hls4ml actually chose (it moves invalid values
to the closest valid one), the number of passes, and hls4ml's own multiplier count
(``multiplier_limit``, which leaves out the products with zero weights);
:func:`compare_with_hls4ml` sets them next to an estimate of :mod:`src.fpga.estimate`, and
:func:`compare_models` does so for several models at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd


def hls4ml_layer_table(hls_model) -> pd.DataFrame:
    """What a converted hls4ml model will instantiate, per convolution and dense layer.

    Columns: ``n_in``, ``n_out`` (products per output pixel are ``n_in * n_out``), ``pixels``
    (output pixels; 1 for dense), ``passes`` (hls4ml ``n_partitions``; 1 for dense),
    ``nonzero_weights``, ``reuse_factor`` and ``strategy`` as hls4ml set them, ``mults`` (products
    with non-zero weights per inference) and ``multiplier_limit`` (hls4ml's multipliers per pass,
    ``ceil(n_in * n_out / R) - zeros / R``, times the pixels computed per pass).
    """
    rows = {}
    for node in hls_model.get_layers():
        kind = node.class_name
        if kind in ("Conv2D", "PointwiseConv2D"):
            n_in = node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan")
            n_out = node.get_attr("n_filt")
            pixels = node.get_attr("out_height") * node.get_attr("out_width")
            passes = node.get_attr("n_partitions", pixels) if hls_model.config.get_config_value(
                "IOType") == "io_parallel" else pixels
        elif kind == "Dense":
            n_in, n_out, pixels, passes = node.get_attr("n_in"), node.get_attr("n_out"), 1, 1
        else:
            continue
        weights = node.get_weights("weight")
        zeros = int(weights.nzeros)
        reuse = int(node.get_attr("reuse_factor"))
        rows[node.name] = {
            "type": kind,
            "n_in": n_in,
            "n_out": n_out,
            "pixels": pixels,
            "passes": passes,
            "nonzero_weights": n_in * n_out - zeros,
            "reuse_factor": reuse,
            "strategy": node.get_attr("strategy"),
            "mults": (n_in * n_out - zeros) * pixels,
            "multiplier_limit": (math.ceil(n_in * n_out / reuse) - zeros // reuse) * (pixels // passes),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def compare_with_hls4ml(estimate: pd.DataFrame, hls_model) -> pd.DataFrame:
    """Estimated multiplications and multipliers next to the hls4ml model's own counts.

    Rows are the layers both know; ``mults_ratio`` is estimate / hls4ml (1 when the estimate counts
    what hls4ml builds; above 1 when hls4ml drops products with zero weights, e.g. the zero blocks
    of ungrouped convolutions).
    """
    hls = hls4ml_layer_table(hls_model)
    common = [name for name in estimate.index if name in hls.index]
    if not common:
        raise ValueError("the estimate and the hls4ml model share no convolution or dense layer")
    out = pd.DataFrame({
        "mults_estimate": estimate.loc[common, "mults"].astype(int),
        "mults_hls4ml": hls.loc[common, "mults"].astype(int),
        "multipliers_estimate": estimate.loc[common, "parallel_mults"].astype(int),
        "multiplier_limit_hls4ml": hls.loc[common, "multiplier_limit"].astype(int),
        "reuse_estimate": estimate.loc[common, "reuse_factor"].astype(int),
        "reuse_hls4ml": hls.loc[common, "reuse_factor"].astype(int),
    })
    out["mults_ratio"] = out["mults_estimate"] / out["mults_hls4ml"]
    return out


def compare_models(estimates: Mapping[str, pd.DataFrame],
                   hls_models: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`compare_with_hls4ml` of several models, stacked with a ``(model, layer)`` index;
    ``estimates`` and ``hls_models`` are keyed by the same model names."""
    return pd.concat({name: compare_with_hls4ml(estimate, hls_models[name])
                      for name, estimate in estimates.items()}, names=["model", "layer"])
