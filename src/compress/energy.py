"""Energy per inference of the reduced encoders with QTools (``qkeras.qtools``), 45 nm.

QTools prices every operation with Horowitz's 45 nm numbers (ISSCC 2014; QTools' process
``"horowitz"``): float layers at the precision of ``keras_quantizer`` / ``keras_accumulator``
(``"fp16"``, the setting that reproduces the study's Table 3.2), QKeras layers at the bit
widths of their quantizers. Memory traffic is left out (``"fixed"`` weights and activations)
except the read of the input image, quantized as ``<16,6>`` (hls4ml's default precision):
these are the settings with which QTools reproduces the study's Tables 3.2 and 3.4.

Two things QTools does not do, handled here explicitly:

- it dispatches on class names, so :class:`src.model.GroupedConv2D` is seen as a plain
  ``Conv2D`` (on a clone of the encoder) to be priced at all;
- it has no ``InstanceNormalization``: it passes the layer through at zero cost. We add a
  row per normalization priced with the same table: per element two multiplications and
  four additions at ``keras_quantizer`` precision (mean sum, centring, variance sum,
  ``* gamma / std``, ``+ beta``; the per-channel square root is neglected). The layer stays
  float in the quantized encoder too, as in the study.

QTools also counts a grouped convolution as if it were dense (``C_in`` instead of
``C_in / groups`` inputs per output), as in the study's table; ``energy_grouped_nJ``
rescales the arithmetic of conv / dense layers to the multiplications really done
(:func:`src.model.count_macs`).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd

from ..backend import keras  # sets TensorFlow up for QKeras: import it first

# isort: split
from qkeras import quantized_bits
from qkeras.qtools import run_qtools
from qkeras.qtools.qenergy.qenergy import OP
from qkeras.qtools.settings import cfg

from ..models.layers import GroupedConv2D, InstanceNormalization
from ..models.networks import count_macs
from ..study import TABLE_3_2, TABLE_3_4

#: QTools' 45 nm process (Horowitz).
PROCESS = "horowitz"
#: Operations per element of an instance normalization: (multiplications, additions).
NORM_OPS = (2, 4)


def _qtools_view(encoder: keras.Model) -> keras.Model:
    """The encoder with grouped float convolutions as ``Conv2D`` (same weights, same groups)."""
    if not any(isinstance(layer, GroupedConv2D) for layer in encoder.layers):
        return encoder

    def clone(layer):
        cls = keras.layers.Conv2D if isinstance(layer, GroupedConv2D) else type(layer)
        return cls.from_config(layer.get_config())

    view = keras.models.clone_model(encoder, clone_function=clone)
    view.set_weights(encoder.get_weights())
    return view


def energy_table(encoder: keras.Model, keras_quantizer: str = "fp16",
                 keras_accumulator: str = "fp16",
                 source_bits: tuple[int, int] = (16, 6)) -> pd.DataFrame:
    """Energy per layer of one inference, in nJ, for layers that cost any.

    Index: layer name. Columns: ``class``, ``qtools_ops`` (QTools' operation count),
    ``macs`` (multiplications really done, conv / dense only), ``energy_nJ`` (QTools, plus
    our instance-norm estimate), ``energy_grouped_nJ`` (arithmetic rescaled by
    ``macs / qtools_ops``) and ``source`` (``"qtools"`` or ``"estimate"``).
    ``source_bits`` (total, integer) quantize the input image as ``quantized_bits``.
    ``attrs["qtools_total_nJ"]`` holds QTools' own total, the sum of its rows. Float layers
    and instance norms are priced at ``keras_quantizer``, ``"fp16"`` or ``"fp32"``.
    """
    if keras_quantizer not in ("fp16", "fp32"):
        raise ValueError(f"keras_quantizer must be 'fp16' or 'fp32', got {keras_quantizer!r}")
    view = _qtools_view(encoder)
    with contextlib.redirect_stdout(io.StringIO()):  # QTools prints a line per unknown layer
        tools = run_qtools.QTools(
            view, process=PROCESS, is_inference=True, keras_quantizer=keras_quantizer,
            keras_accumulator=keras_accumulator,
            source_quantizers=[quantized_bits(*source_bits, alpha=1)])
        energy = tools.pe(weights_on_memory="fixed", activations_on_memory="fixed",
                          min_sram_size=8 * 16 * 1024 * 1024, rd_wr_on_io=False)
    profile = tools.extract_energy_profile(cfg.include_energy, energy)
    layer_map = tools._layer_map["layer_data_type_map"]  # QTools' operation counts (no API)
    ops = {layer.name: int(item.operation_count if hasattr(item, "operation_count")
                           else item["operation_count"]) for layer, item in layer_map.items()}
    macs = count_macs(encoder)
    norm_pj = (NORM_OPS[0] * OP[keras_quantizer]["mul"](16)
               + NORM_OPS[1] * OP[keras_quantizer]["add"](16))
    rows = []
    for layer in view.layers:
        if isinstance(layer, InstanceNormalization):
            nj = norm_pj * int(np.prod(layer.output_shape[1:])) / 1e3
            rows.append({"layer": layer.name, "class": "InstanceNormalization", "qtools_ops": 0,
                         "macs": 0, "energy_nJ": nj, "energy_grouped_nJ": nj,
                         "source": "estimate"})
            continue
        entry = profile.get(layer.name)
        if entry is None or entry["total"] == 0:
            continue
        nj = entry["total"] / 1e3
        grouped = nj
        if layer.name in macs and ops[layer.name]:
            arithmetic = entry["energy"]["op_cost"] / 1e3
            grouped = nj - arithmetic * (1 - macs[layer.name] / ops[layer.name])
        rows.append({"layer": layer.name, "class": type(encoder.get_layer(layer.name)).__name__,
                     "qtools_ops": ops[layer.name], "macs": macs.get(layer.name, 0),
                     "energy_nJ": nj, "energy_grouped_nJ": grouped, "source": "qtools"})
    table = pd.DataFrame(rows).set_index("layer")
    table.attrs["qtools_total_nJ"] = tools.extract_energy_sum(cfg.include_energy, energy) / 1e3
    return table


def study_comparison(float_table: pd.DataFrame, quantized_table: pd.DataFrame) -> pd.DataFrame:
    """Per-layer energies [nJ] of the study's Table 3.2 beside ours (QTools rows only)."""
    frame = pd.DataFrame({
        "study, float": pd.Series(TABLE_3_2.values),
        "ours, float": float_table.loc[float_table["source"] == "qtools", "energy_nJ"],
        "ours, quantized": quantized_table.loc[quantized_table["source"] == "qtools",
                                               "energy_nJ"],
    })
    return frame.loc[[name for name in float_table.index if name in frame.index]]


def totals(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Total energy [uJ] per encoder: QTools alone, with instance norms, and with groups
    counted as done; the study's Table 3.4 where it has the encoder."""
    rows = {}
    for name, table in tables.items():
        qtools = table["source"] == "qtools"
        rows[name] = {"QTools [uJ]": table.loc[qtools, "energy_nJ"].sum() / 1e3,
                      "with instance norm [uJ]": table["energy_nJ"].sum() / 1e3,
                      "grouped MACs, with norm [uJ]": table["energy_grouped_nJ"].sum() / 1e3,
                      "study [uJ]": TABLE_3_4.values.get(name, np.nan)}
    return pd.DataFrame.from_dict(rows, orient="index")


def saving(totals_table: pd.DataFrame, column: str = "QTools [uJ]",
           before: str = "reduced float", after: str = "quantized <16,6>") -> float:
    """Fraction of the energy of encoder ``before`` that encoder ``after`` saves, from one
    column of :func:`totals` (``"study [uJ]"`` gives the study's saving)."""
    return float(1 - totals_table.loc[after, column] / totals_table.loc[before, column])
