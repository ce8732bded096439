"""hls4ml port of :class:`src.models.layers.InstanceNormalization` through hls4ml's extension API.

``register()`` teaches hls4ml 1.3 (Vivado and Vitis backends, ``io_parallel`` and ``io_stream``)
the Keras layer: a Keras v2 parser, an IR layer (this module's ``InstanceNormalization``), a
config and a function-call template and the C++ header ``src/fpga/hls/nnet_instancenorm.h``.

Arithmetic (per sample and channel, channels last): the mean is the sum of the inputs times a
33-bit constant ``1/n`` (``accum_t``); the population variance is the mean of the squared
deviations (two passes, ``var_t``); ``1/sqrt(var + epsilon)`` comes from a table indexed like a
floating-point number: ``var + epsilon = m * 4**k`` with ``m`` in [1, 4), ``table_size / 2``
bins for each of [1, 2) and [2, 4), the table holding ``1/sqrt`` at the bin centres and the
result shifted by ``k`` exactly. Its relative error is at most ``2**-(log2(table_size) + 1)``
(the half-bin width times the slope of ``m**-0.5``) plus half an LSB of ``table_t``, for any
variance ``var_t`` can hold, so there is no range to configure, only the table size. With
``NewtonSteps: 1`` the table value ``t`` is refined once, ``t (3 - m t^2) / 2`` (``m`` truncated
to the fractional bits of ``rsqrt_t``, the products exact, the result truncated to ``rsqrt_t``):
the relative error falls to about 1.5 times its square plus one LSB of ``rsqrt_t``, for three
products per channel and sample (not per position). The
normalized value ``(x - mean) / sqrt(var + epsilon)`` is held in ``norm_t``, then scaled by
gamma and shifted by beta into the output type.

Precisions are set per layer in the hls4ml config, ``hls_config["LayerName"][name]["Precision"]``
(or ``["LayerType"]["InstanceNormalization"]``), under the keys ``accum``, ``variance``,
``table``, ``rsqrt``, ``norm`` (plus the usual ``scale``, ``bias``, ``result``), ``TableSize`` (a
power of two, at least 4) and ``NewtonSteps`` (0, the default, or 1). A missing key or ``"auto"`` takes a default derived from the input type
``ap_fixed<W, I>`` (``F = W - I`` fractional bits) and ``L = ceil(log2(n))`` for ``n`` positions:

- ``accum``: ``ap_fixed<I' + 2L + F, I' + L>`` (``I' = I`` signed, ``I + 1`` unsigned input;
  ``L >= 1``): the sum exactly, the mean with ``L`` guard bits;
- ``variance``: ``ap_ufixed<2I + L + Fv, 2I + L>`` with
  ``Fv = ceil(-log2 epsilon) + log2(table_size) + 3``: the sum of squares without overflow and
  ``var + epsilon`` (at least epsilon) four times finer than the table's bins;
- ``table``: ``ap_ufixed<18, 1, AP_RND_CONV, AP_SAT>``;
- ``rsqrt``: with a Newton step ``ap_ufixed<max(2 log2(table_size) + 4, W_table), 1>``
  (truncating), else ``table``;
- ``norm``: ``ap_fixed<Fn + In, In>`` with ``In = ceil(log2(n) / 2) + 2`` (``|z| <= sqrt(n - 1)``)
  and ``Fn = F_out + 6`` for an output with ``F_out`` fractional bits.

Epsilon is rounded to ``var_t``; a ``var_t`` too coarse to hold it is an error.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..backend import keras  # noqa: F401  (aliases keras to tf_keras before hls4ml is imported)

# isort: split
import hls4ml
from hls4ml.backends.fpga.fpga_types import APTypeConverter
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.converters.keras_v2_to_hls import (
    get_layer_handlers,
    get_weights_data,
    parse_default_keras_layer,
)
from hls4ml.model.attributes import Attribute, ConfigurableAttribute, TypeAttribute, WeightAttribute
from hls4ml.model.optimizer import get_available_passes
from hls4ml.model.types import (
    FixedPrecisionType,
    IntegerPrecisionType,
    RoundingMode,
    SaturationMode,
    UnspecifiedPrecisionType,
)

__all__ = ["HEADER", "InstanceNormalization", "register", "internal_types", "BACKENDS"]

#: The C++ implementation, copied into every project's ``firmware/nnet_utils``.
HEADER = Path(__file__).resolve().parent / "hls" / "nnet_instancenorm.h"
#: Backends the port is registered with.
BACKENDS = ("Vivado", "Vitis")
#: Name of the Keras layer class and of the hls4ml IR layer.
LAYER_NAME = "InstanceNormalization"

_DEFAULT_TABLE = FixedPrecisionType(
    18, 1, signed=False, rounding_mode=RoundingMode.RND_CONV, saturation_mode=SaturationMode.SAT
)
_registered = False


class InstanceNormalization(hls4ml.model.layers.Layer):
    """hls4ml IR node of the Keras ``InstanceNormalization`` layer (channels last)."""

    _expected_attributes = [
        Attribute("n_spatial"),
        Attribute("n_chan"),
        Attribute("epsilon", value_type=float),
        ConfigurableAttribute("reuse_factor", default=1),
        ConfigurableAttribute("table_size", default=1024),
        ConfigurableAttribute("newton_steps", default=0),
        WeightAttribute("scale"),
        WeightAttribute("bias"),
        TypeAttribute("scale"),
        TypeAttribute("bias"),
    ]

    def initialize(self) -> None:
        inp = self.get_input_variable()
        self.add_output_variable(list(inp.shape))
        self.add_weights_variable(name="scale", var_name="s{index}", data="scale")
        self.add_weights_variable(name="bias", var_name="b{index}", data="bias")


def parse_instancenorm_layer(keras_layer: dict, input_names, input_shapes, data_reader):
    """Keras v2 parser: the layer dictionary hls4ml builds its IR node from."""
    layer = parse_default_keras_layer(keras_layer, input_names)
    shape = list(input_shapes[0][1:])
    if len(shape) < 2 or any(d is None for d in shape):
        raise ValueError(
            f"{layer['name']}: InstanceNormalization needs a fixed channels-last shape with spatial axes, got {shape}"
        )
    cfg = keras_layer["config"]
    n_chan = int(shape[-1])
    layer["n_chan"] = n_chan
    layer["n_spatial"] = int(np.prod(shape[:-1]))
    layer["epsilon"] = float(cfg.get("epsilon", 1e-3))
    if layer["epsilon"] <= 0:
        raise ValueError(f"{layer['name']}: epsilon must be positive, got {layer['epsilon']}")
    gamma = get_weights_data(data_reader, layer["name"], "gamma") if cfg.get("scale", True) else None
    beta = get_weights_data(data_reader, layer["name"], "beta") if cfg.get("center", True) else None
    layer["scale_data"] = np.ones(n_chan) if gamma is None else np.asarray(gamma)
    layer["bias_data"] = np.zeros(n_chan) if beta is None else np.asarray(beta)
    return layer, list(input_shapes[0])


def _fixed(precision, what: str) -> tuple[int, int, bool]:
    """(width, integer bits, signed) of a fixed-point or integer precision."""
    if isinstance(precision, FixedPrecisionType):
        return precision.width, precision.integer, precision.signed
    if isinstance(precision, IntegerPrecisionType):
        return precision.width, precision.width, precision.signed
    raise ValueError(f"InstanceNormalization needs a fixed-point {what}, got {precision}")


def _explicit_precision(node, var: str):
    """The precision the user set for ``var`` of this layer, or None (unset or 'auto')."""
    config = node.model.config
    value = config.layer_name_precision.get(f"{node.name.lower()}_{var}")
    if value is None:
        value = config.layer_type_precision.get(f"{node.class_name.lower()}_{var}")
    if value is None:
        return None
    precision = config.backend.convert_precision_string(value)
    if isinstance(precision, UnspecifiedPrecisionType):
        return None
    _fixed(precision, f"'{var}' precision")
    return precision


def internal_types(node) -> dict:
    """The C++ types of one node: ``accum``, ``variance``, ``table``, ``rsqrt``, ``norm`` (set or
    default), ``inv`` (1/sqrt, exact) and ``inv_n`` (1/n), as hls4ml ``FixedPrecisionType``; plus
    the table mantissa bits, the Newton steps and epsilon as raw ``var_t`` bits."""
    n = int(node.get_attr("n_spatial"))
    table_size = int(node.get_attr("table_size"))
    if table_size < 4 or table_size & (table_size - 1):
        raise ValueError(f"{node.name}: TableSize must be a power of two >= 4, got {table_size}")
    mantissa_bits = int(math.log2(table_size)) - 1
    eps = float(node.get_attr("epsilon"))

    w_in, i_in, signed_in = _fixed(node.get_input_variable().type.precision, "input")
    f_in = w_in - i_in
    log_n = max(1, math.ceil(math.log2(n)))
    i_signed = i_in if signed_in else i_in + 1

    accum = _explicit_precision(node, "accum") or FixedPrecisionType(
        i_signed + 2 * log_n + f_in, i_signed + log_n, signed=True
    )
    var_int = max(1, 2 * i_in + log_n)
    var_frac = math.ceil(-math.log2(eps)) + mantissa_bits + 4
    variance = _explicit_precision(node, "variance") or FixedPrecisionType(
        var_int + var_frac, var_int, signed=False
    )
    table = _explicit_precision(node, "table") or _DEFAULT_TABLE
    steps = int(node.get_attr("newton_steps"))
    if steps not in (0, 1):
        raise ValueError(f"{node.name}: NewtonSteps must be 0 or 1, got {steps}")
    rsqrt = table
    if steps:
        rsqrt = _explicit_precision(node, "rsqrt") or FixedPrecisionType(
            max(2 * mantissa_bits + 6, table.width), 1, signed=False)
        if (rsqrt.signed or rsqrt.integer != 1 or rsqrt.width < table.width
                or rsqrt.rounding_mode not in (None, RoundingMode.TRN)
                or rsqrt.saturation_mode not in (None, SaturationMode.WRAP)):
            raise ValueError(f"{node.name}: the 'rsqrt' precision must be an ap_ufixed<W,1> "
                             f"with W >= {table.width} and the default (truncating) modes, "
                             f"got {rsqrt}")
    w_out, i_out, _ = _fixed(node.get_output_variable().type.precision, "output")
    f_out = w_out - i_out
    norm_int = math.ceil(math.log2(n) / 2) + 2
    norm = _explicit_precision(node, "norm") or FixedPrecisionType(
        norm_int + f_out + 6, norm_int, signed=True
    )

    v_w, v_i, _ = _fixed(variance, "'variance' precision")
    v_f = v_w - v_i
    t_w, t_i, _ = _fixed(rsqrt, "'rsqrt' precision")
    k_min, k_max = math.floor(-v_f / 2), math.floor((v_i - 1) / 2)
    inv = FixedPrecisionType(t_w + k_max - k_min, t_i - k_min, signed=False)

    eps_raw = round(eps * 2.0**v_f)
    if eps_raw < 1 or eps_raw >= 2**min(v_w, 63):
        raise ValueError(
            f"{node.name}: epsilon={eps} does not fit the variance type {variance} (choose more fractional bits)"
        )
    return {
        "accum": accum,
        "variance": variance,
        "table": table,
        "rsqrt": rsqrt,
        "newton_steps": steps,
        "norm": norm,
        "inv": inv,
        "inv_n": FixedPrecisionType(33, 1, signed=False),
        "mantissa_bits": mantissa_bits,
        "epsilon_raw": eps_raw,
    }


_CONFIG_TEMPLATE = """struct config{index} : nnet::instancenorm_config {{
    static const unsigned n_spatial = {n_spatial};
    static const unsigned n_chan = {n_chan};
    static const unsigned table_size = {table_size};
    static const unsigned table_mantissa_bits = {mantissa_bits};
    static const unsigned long long epsilon_raw = {epsilon_raw}ULL;
    static const unsigned newton_steps = {newton_steps};
    static const unsigned io_type = nnet::{iotype};
    static const unsigned reuse_factor = {reuse};
    typedef {accum} accum_t;
    typedef {variance} var_t;
    typedef {table} table_t;
    typedef {rsqrt} rsqrt_t;
    typedef {inv} inv_t;
    typedef {norm} norm_t;
    typedef {inv_n} inv_n_t;
    typedef {scale_t.name} scale_t;
    typedef {bias_t.name} bias_t;
}};
"""

_FUNCTION_TEMPLATE = "nnet::instancenorm<{input_t}, {output_t}, {config}>({input}, {output}, {scale}, {bias});"


class InstanceNormConfigTemplate(LayerConfigTemplate):
    """Writes the ``config<N>`` struct of one node."""

    def __init__(self):
        super().__init__(InstanceNormalization)
        self.template = _CONFIG_TEMPLATE

    def format(self, node) -> str:
        params = self._default_config_params(node)
        types = internal_types(node)
        converter = APTypeConverter()
        for key in ("accum", "variance", "table", "rsqrt", "norm", "inv", "inv_n"):
            params[key] = converter.convert(types[key]).definition_cpp()
        params["mantissa_bits"] = types["mantissa_bits"]
        params["epsilon_raw"] = types["epsilon_raw"]
        params["newton_steps"] = types["newton_steps"]
        return self.template.format(**params)


class InstanceNormFunctionTemplate(FunctionCallTemplate):
    """Writes the call of ``nnet::instancenorm`` in the top function."""

    def __init__(self):
        super().__init__(InstanceNormalization, include_header=["nnet_utils/nnet_instancenorm.h"])
        self.template = _FUNCTION_TEMPLATE

    def format(self, node) -> str:
        params = self._default_function_params(node)
        params["scale"] = node.get_weights("scale").name
        params["bias"] = node.get_weights("bias").name
        return self.template.format(**params)


def register() -> None:
    """Register the port with hls4ml (parser, IR layer, templates, header); safe to call again."""
    global _registered
    if _registered:
        return
    if not HEADER.is_file():
        raise FileNotFoundError(f"missing HLS header {HEADER} (is src/fpga/hls shipped with the package?)")
    if LAYER_NAME not in get_layer_handlers():
        hls4ml.converters.register_keras_v2_layer_handler(LAYER_NAME, parse_instancenorm_layer)
    hls4ml.model.layers.register_layer(LAYER_NAME, InstanceNormalization)
    for name in BACKENDS:
        backend = hls4ml.backends.get_backend(name)
        for template in (InstanceNormConfigTemplate, InstanceNormFunctionTemplate):
            if f"{name.lower()}:{template().get_name()}" not in get_available_passes():
                backend.register_template(template)
        backend.register_source(HEADER)
    _registered = True


def link_project(project_dir: str | Path):
    """The hls4ml model of a project folder written earlier (to compile it), port registered."""
    register()
    return hls4ml.converters.link_existing_project(str(project_dir))
