"""Bit-accurate NumPy emulation of an hls4ml ``io_parallel`` model, for whole test splits.

The C++ that hls4ml compiles (:func:`src.fpga.emulate.emulate`) runs one image at a time; this
module runs the same arithmetic on batches of images with NumPy. Every value is a float64 that
holds a fixed-point number exactly, and every cast applies the C++ type's quantization
(``AP_TRN``, ``AP_RND_CONV``, ...) and overflow (``AP_WRAP``, ``AP_SAT``, ...) modes:

- convolutions and dense layers: exact products summed in float64 (a guard checks the widths
  stay below 53 bits), cast to the accumulator type (wrap-around commutes with the sum), then
  to the result type, as ``nnet::dense_latency`` and ``nnet::conv_2d_latency_cl`` do;
- activations (linear, ReLU, leaky ReLU), ``Merge`` add, pooling (max, average), reshapes;
- the project's instance normalization (``src/fpga/hls/nnet_instancenorm.h``), step by step,
  with Python integers where a product is wider than 53 bits.

Weights are read as the C++ reads them: the decimal text hls4ml writes, parsed as a double and
cast to the weight type. :class:`FirmwareModel` is built from an hls4ml ``ModelGraph`` and is
proven bit-identical to the compiled C++ by ``tests/test_fixedpoint.py`` and chapter 6.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .instancenorm import internal_types

#: Largest integer width a float64 holds exactly.
EXACT_BITS = 53


def _round_half(x: np.ndarray, ties: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Round to the nearest integer, ties resolved by ``ties`` (applied to the halves)."""
    nearest = np.floor(x + 0.5)
    tie = (x - np.floor(x)) == 0.5
    return np.where(tie, ties(x), nearest)


_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "TRN": np.floor,
    "TRN_ZERO": np.trunc,
    "RND": lambda x: np.floor(x + 0.5),
    "RND_CONV": np.rint,  # ties to even
    "RND_ZERO": lambda x: _round_half(x, np.trunc),
    "RND_MIN_INF": lambda x: _round_half(x, np.floor),
    "RND_INF": lambda x: _round_half(x, lambda v: np.sign(v) * np.ceil(np.abs(v))),
}


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed``/``ap_ufixed`` (or ``ap_int``) type: ``width`` bits, ``integer`` of them
    left of the binary point, its quantization and overflow modes."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    saturation: str = "WRAP"

    def __post_init__(self) -> None:
        if self.rounding not in _ROUNDING:
            raise ValueError(f"unsupported rounding mode {self.rounding!r}")
        if self.saturation not in ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM"):
            raise ValueError(f"unsupported overflow mode {self.saturation!r}")
        if self.width > EXACT_BITS:
            raise ValueError(f"{self} is wider than the {EXACT_BITS} bits a float64 holds")

    @classmethod
    def of(cls, precision: Any) -> FixedType:
        """The type of an hls4ml ``FixedPrecisionType`` or ``IntegerPrecisionType``."""
        rounding = getattr(precision, "rounding_mode", None)
        saturation = getattr(precision, "saturation_mode", None)
        if getattr(precision, "saturation_bits", 0):
            raise ValueError(f"saturation bits are not emulated: {precision}")
        integer = getattr(precision, "integer", precision.width)
        return cls(int(precision.width), int(integer), bool(precision.signed),
                   rounding.name if rounding is not None else "TRN",
                   saturation.name if saturation is not None else "WRAP")

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    @property
    def code_bounds(self) -> tuple[int, int]:
        """Smallest and largest integer the type stores, in units of its LSB."""
        low, high = self._bounds()
        return int(low), int(high)

    def _bounds(self) -> tuple[float, float]:
        if self.signed:
            return -(2.0 ** (self.width - 1)), 2.0 ** (self.width - 1) - 1
        return 0.0, 2.0 ** self.width - 1

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The integers (float64) a cast of ``x`` to this type stores, in units of its LSB."""
        return self.overflow(_ROUNDING[self.rounding](np.asarray(x, dtype=np.float64)
                                                      * 2.0 ** self.fractional))

    def overflow(self, q: np.ndarray) -> np.ndarray:
        """Integers ``q`` (in units of the LSB) after this type's overflow mode."""
        low, high = self._bounds()
        if self.saturation == "WRAP":
            return low + np.mod(q - low, 2.0 ** self.width)
        if self.saturation == "SAT":
            return np.clip(q, low, high)
        if self.saturation == "SAT_SYM":
            return np.clip(q, -high if self.signed else low, high)
        return np.where((q < low) | (q > high), 0.0, q)  # SAT_ZERO

    def cast(self, x: np.ndarray) -> np.ndarray:
        """``x`` cast to this type, as a C++ assignment does."""
        return self.raw(x) * 2.0 ** -self.fractional


def _significant_bits(t: FixedType) -> int:
    return t.width + (0 if t.signed else 1)


def _check_exact(what: str, bits: int) -> None:
    if bits > EXACT_BITS:
        raise ValueError(f"{what} needs {bits} bits, more than a float64 holds exactly")


def _bits(raw: np.ndarray) -> int:
    """Bits of the largest magnitude among integers ``raw``."""
    return int(np.ceil(np.log2(np.abs(raw).max(initial=0) + 1)))


def _floor_sum(a: np.ndarray, b: np.ndarray, t: FixedType) -> np.ndarray:
    """``t.cast(a + b)`` for a truncating ``t`` and exact float64 terms whose sum may need
    more than 53 bits: the rounding error of the float sum (TwoSum) decides the floor when the
    rounded sum falls on the grid of ``t``."""
    if t.rounding != "TRN":
        raise ValueError(f"an exact wide sum is emulated for truncating types only, got {t}")
    total = a + b
    virtual = total - a
    error = (a - (total - virtual)) + (b - virtual)
    scaled = total * 2.0 ** t.fractional
    q = np.floor(scaled) - ((scaled == np.floor(scaled)) & (error < 0))
    return t.overflow(q) * 2.0 ** -t.fractional


def _weights(variable: Any) -> np.ndarray:
    """A weight array as the C++ loads it: hls4ml's decimal text, parsed, cast to its type."""
    kind = FixedType.of(variable.type.precision)
    fmt = variable.precision_fmt
    data = np.asarray(variable.data, dtype=np.float64)
    text = np.array([float(fmt.format(v)) for v in data.ravel()]).reshape(data.shape)
    return kind.cast(text)


def _accumulate(node: Any, x: np.ndarray, kernel: np.ndarray, x_type: FixedType) -> np.ndarray:
    """``x @ kernel + bias`` in the accumulator type, then cast to the result type."""
    accum = FixedType.of(node.get_attr("accum_t").precision)
    w_type = FixedType.of(node.get_attr("weight_t").precision)
    if accum.saturation != "WRAP":
        raise ValueError(f"{node.name}: only a wrapping accumulator is emulated, got {accum}")
    if accum.fractional < x_type.fractional + w_type.fractional:
        raise ValueError(f"{node.name}: an accumulator that rounds each product is not emulated")
    n_in = kernel.shape[0]
    _check_exact(f"{node.name}'s sum", _significant_bits(x_type) + _significant_bits(w_type)
                 + int(np.ceil(np.log2(n_in + 1))))
    bias = accum.cast(_weights(node.weights["bias"])) if "bias" in node.weights else 0.0
    total = x @ kernel + bias
    return FixedType.of(node.get_output_variable().type.precision).cast(accum.cast(total))


def _patches(x: np.ndarray, node: Any) -> np.ndarray:
    """Zero-padded convolution windows: ``(N, out_h, out_w, fh * fw * C)``."""
    a = node.get_attr
    padded = np.pad(x, ((0, 0), (a("pad_top"), a("pad_bottom")), (a("pad_left"), a("pad_right")),
                        (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (a("filt_height"), a("filt_width")), axis=(1, 2))
    windows = windows[:, ::a("stride_height"), ::a("stride_width")][:, :a("out_height"),
                                                                    :a("out_width")]
    n, h, w, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n, h, w, -1)


def _conv2d(node: Any, x: np.ndarray, x_type: FixedType) -> np.ndarray:
    kernel = _weights(node.weights["weight"])
    return _accumulate(node, _patches(x, node), kernel.reshape(-1, kernel.shape[-1]), x_type)


def _dense(node: Any, x: np.ndarray, x_type: FixedType) -> np.ndarray:
    return _accumulate(node, x.reshape(len(x), -1), _weights(node.weights["weight"]), x_type)


def _activation(node: Any, x: np.ndarray, x_type: FixedType) -> np.ndarray:
    out = FixedType.of(node.get_output_variable().type.precision)
    kind = node.get_attr("activation").lower()
    if kind == "linear":
        return out.cast(x)
    if kind == "relu":
        return out.cast(np.where(x > 0, x, 0.0))
    if kind == "leaky_relu":
        alpha = FixedType.of(node.get_attr("param_t").precision).cast(node.get_attr("activ_param"))
        return out.cast(np.where(x > 0, x, alpha * x))
    raise ValueError(f"{node.name}: activation {kind!r} is not emulated")


def _pooling(node: Any, x: np.ndarray, x_type: FixedType) -> np.ndarray:
    a = node.get_attr
    if any(a(p) for p in ("pad_top", "pad_bottom", "pad_left", "pad_right")):
        raise ValueError(f"{node.name}: padded pooling is not emulated")
    ph, pw = a("pool_height"), a("pool_width")
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(1, 2))
    windows = windows[:, ::a("stride_height"), ::a("stride_width")][:, :a("out_height"),
                                                                    :a("out_width")]
    accum = FixedType.of(a("accum_t").precision)
    out = FixedType.of(node.get_output_variable().type.precision)
    if a("pool_op") == "Max":
        return out.cast(accum.cast(windows.max(axis=(4, 5))))
    # avg: the sum in accum_t, divided by the window size at accum_t's precision (ap_fixed
    # division truncates toward zero), then cast to the result type
    total = accum.raw(windows.sum(axis=(4, 5)))
    quotient = np.sign(total) * np.floor_divide(np.abs(total), ph * pw)
    return out.cast(accum.cast(quotient * 2.0 ** -accum.fractional))


def _merge(node: Any, xs: list[np.ndarray]) -> np.ndarray:
    if node.get_attr("op") != "add":
        raise ValueError(f"{node.name}: merge {node.get_attr('op')!r} is not emulated")
    return FixedType.of(node.get_output_variable().type.precision).cast(xs[0] + xs[1])


def _shift_floor(raw: np.ndarray, factor: int, shift: int) -> np.ndarray:
    """``floor(raw * factor / 2**shift)`` exactly, with Python integers."""
    product = raw.astype(np.int64).astype(object) * int(factor)
    return np.asarray(product >> shift, dtype=np.float64) if shift >= 0 else \
        np.asarray(product << -shift, dtype=np.float64)


def _square_floor(d: np.ndarray, shift: int) -> np.ndarray:
    """``floor(d**2 / 2**shift)`` exactly for integers ``d`` (float64, ``|d| < 2**52``) whose
    result stays below 2**52: a float64 estimate, corrected with the square modulo 2**64."""
    if not 0 <= shift < 63:
        raise ValueError(f"square shifted by {shift} bits is not emulated")
    estimate = np.floor(d * d * 2.0 ** -shift)
    _check_exact("a sum of squares", int(np.ceil(np.log2(estimate.max(initial=0) + 2))))
    magnitude = np.abs(d).astype(np.uint64)
    rest = magnitude * magnitude - (estimate.astype(np.uint64) << np.uint64(shift))
    too_high = rest >= np.uint64(2**63)  # the estimate exceeds the true quotient by one
    too_low = ~too_high & (rest >= np.uint64(2**shift))
    return estimate - too_high + too_low


def _rsqrt_table(table: FixedType, size: int) -> np.ndarray:
    """``init_instancenorm_table``: 1/sqrt of each mantissa bin's centre, cast to table_t."""
    half = size // 2
    i = np.arange(size)
    m = 1.0 + ((i % half) + 0.5) / half
    m = np.where(i >= half, 2.0 * m, m)
    return table.cast(1.0 / np.sqrt(m))


def _newton_step(t: np.ndarray, bits: np.ndarray, lead: np.ndarray, odd: np.ndarray,
                 table: FixedType, rsqrt: FixedType) -> np.ndarray:
    """``instancenorm_rsqrt``'s Newton-Raphson step, exactly: ``t (3 - m t^2) / 2`` with the
    mantissa ``m = floor(bits * 2**(rf + odd - lead)) / 2**rf`` (``rf`` the fractional bits of
    ``rsqrt``), in Python integers, truncated to ``rsqrt``."""
    if rsqrt.rounding != "TRN" or rsqrt.saturation != "WRAP":
        raise ValueError(f"rsqrt type {rsqrt} must truncate and wrap")
    ft, rf = table.fractional, rsqrt.fractional
    t_raw = (t * 2.0 ** ft).astype(np.int64).astype(object)
    m_raw = (bits.astype(object) << (rf + odd).astype(object)) >> lead.astype(object)
    # y = t (3 - m t^2) / 2 with 3 ft + rf + 1 fractional bits, then floor to rf bits
    y = t_raw * ((3 << (rf + 2 * ft)) - m_raw * t_raw * t_raw)
    return np.asarray(y >> (3 * ft + 1), dtype=np.float64) * 2.0 ** -rf


def _instancenorm(node: Any, x: np.ndarray, x_type: FixedType) -> np.ndarray:
    """``nnet::instancenorm_array`` on ``(N, H, W, C)`` inputs."""
    types = internal_types(node)
    accum, var, table, rsqrt = (FixedType.of(types[k])
                                for k in ("accum", "variance", "table", "rsqrt"))
    inv, norm = FixedType.of(types["inv"]), FixedType.of(types["norm"])
    inv_n_type = FixedType.of(types["inv_n"])
    out = FixedType.of(node.get_output_variable().type.precision)
    scale, bias = _weights(node.weights["scale"]), _weights(node.weights["bias"])
    n_spatial = int(node.get_attr("n_spatial"))
    mb, size = int(types["mantissa_bits"]), int(node.get_attr("table_size"))

    n = len(x)
    flat = x.reshape(n, -1, x.shape[-1])
    inv_n_raw = int(inv_n_type.raw(1.0 / n_spatial))
    sum_raw = accum.raw(flat.sum(axis=1))
    mean = accum.cast(_shift_floor(sum_raw, inv_n_raw, inv_n_type.fractional)
                      * 2.0 ** -accum.fractional)
    d = accum.cast(flat - mean[:, None, :])
    d_raw = d * 2.0 ** accum.fractional
    squares = _square_floor(d_raw, 2 * accum.fractional - var.fractional)
    sum_sq_raw = var.overflow(squares.sum(axis=1))
    var_raw = var.overflow(_shift_floor(sum_sq_raw, inv_n_raw, inv_n_type.fractional))
    bits = var.overflow(var_raw + float(types["epsilon_raw"])).astype(np.int64)

    lead = np.frexp(bits.astype(np.float64))[1] - 1  # position of the leading one
    lead = np.where(bits > 0, lead, 0)
    if var.width + mb > 63:
        raise ValueError(f"{node.name}: variance type too wide for the int64 mantissa")
    e = lead - var.fractional
    odd = e & 1
    k = (e - odd) // 2
    mantissa = ((bits << mb) >> lead) & ((1 << mb) - 1)
    t = _rsqrt_table(table, size)[odd * (size // 2) + mantissa]
    if types["newton_steps"]:
        t = _newton_step(t, bits, lead, odd, table, rsqrt)
    r = inv.cast(t * 2.0 ** -k.astype(float))
    # d * r and z * scale + bias may need more than 53 bits: split d, sum exactly
    low_bits = EXACT_BITS - _significant_bits(rsqrt)
    d_high = np.floor(d_raw * 2.0 ** -low_bits) * 2.0 ** (low_bits - accum.fractional)
    _check_exact(f"{node.name}'s normalized value",
                 _bits(d_high * 2.0 ** accum.fractional) - low_bits + _significant_bits(table))
    z = _floor_sum(d_high * r[:, None, :], (d - d_high) * r[:, None, :], norm)
    _check_exact(f"{node.name}'s scaled value",
                 _bits(z * 2.0 ** norm.fractional) + _significant_bits(
                     FixedType.of(node.weights["scale"].type.precision)))
    return _floor_sum(z * scale, np.broadcast_to(bias, z.shape), out).reshape(x.shape)


_LAYERS: dict[str, Callable[[Any, np.ndarray, FixedType], np.ndarray]] = {
    "Conv2D": _conv2d, "Dense": _dense, "Activation": _activation,
    "ParametrizedActivation": _activation, "LeakyReLU": _activation, "Pooling2D": _pooling,
    "InstanceNormalization": _instancenorm,
}


class FirmwareModel:
    """The fixed-point arithmetic of an hls4ml ``io_parallel`` model, on batches of images."""

    def __init__(self, hls_model: Any) -> None:
        if hls_model.config.get_config_value("IOType") != "io_parallel":
            raise ValueError("only io_parallel projects are emulated")
        self.nodes = list(hls_model.get_layers())
        self.outputs = list(hls_model.outputs)
        self.input_shape = tuple(int(d) for d in self.nodes[0].get_output_variable().shape)
        for node in self.nodes[1:]:
            if node.class_name not in _LAYERS and node.class_name not in ("Merge", "Reshape"):
                raise ValueError(f"layer {node.name} ({node.class_name}) is not emulated")

    def _forward(self, images: np.ndarray) -> list[np.ndarray]:
        first = self.nodes[0]
        x = np.asarray(images, dtype=np.float64).reshape(len(images), *self.input_shape)
        in_type = FixedType.of(first.get_output_variable().type.precision)
        values = {first.outputs[0]: (in_type.cast(x), in_type)}
        for node in self.nodes[1:]:
            inputs = [values[name] for name in node.inputs]
            out_type = FixedType.of(node.get_output_variable().type.precision)
            if node.class_name == "Merge":
                y = _merge(node, [v for v, _ in inputs])
            elif node.class_name == "Reshape":
                y = inputs[0][0].reshape(len(x), *node.get_output_variable().shape)
            else:
                y = _LAYERS[node.class_name](node, *inputs[0])
            values[node.outputs[0]] = (y, out_type)
        return [values[name][0].reshape(len(x), -1) for name in self.outputs]

    def predict(self, images: np.ndarray, batch_size: int = 256,
                progress: bool = False) -> np.ndarray | list[np.ndarray]:
        """The firmware's outputs for ``images`` (``(N, ...)``, any layout of the input size):
        one ``(N, n_out)`` array, or a list of them for a multi-output model, in the top
        function's output order."""
        images = np.asarray(images)
        if len(images) == 0:
            raise ValueError("no images to emulate")
        parts = []
        with tqdm(total=len(images), desc="fixed-point emulation", unit="img",
                  disable=not progress) as bar:
            for start in range(0, len(images), batch_size):
                parts.append(self._forward(images[start:start + batch_size]))
                bar.update(len(parts[-1][0]))
        outputs = [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]
        return outputs[0] if len(outputs) == 1 else outputs
