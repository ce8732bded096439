"""Synthesizable Verilog for a small hls4ml model, bit-identical to hls4ml's fixed-point C++.

:func:`network_from_hls` reads the layers and C++ types of an ``io_parallel`` hls4ml model
(average pooling, dense, ReLU) into a :class:`Network` of integer weight codes and
:class:`~src.fpga.fixedpoint.FixedType` types; :func:`verilog` writes it as one fully pipelined
Verilog module (a new input every clock, II = 1). Its NumPy model is
:class:`~src.fpga.fixedpoint.FirmwareModel` of the same hls4ml model. The arithmetic is hls4ml's:
exact products and sums in wide accumulators, then a cast to the layer's result type, which
truncates toward minus infinity and wraps (``AP_TRN``, ``AP_WRAP``, the ``ap_fixed`` default)
or rounds half to even and saturates (``AP_RND_CONV``, ``AP_SAT``, QKeras' quantized ReLU).

Each product by a constant weight is written in canonical signed digits (CSD) as shifted
copies of the input, and all the shifted terms of one output neuron, with its bias, are summed
by one balanced tree of two-input adders: no multiplier, no DSP. A register follows every
``levels_per_stage`` adder levels, each rounding or saturating cast, and the input and output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fixedpoint import FixedType


@dataclass(frozen=True)
class AvgPool:
    """Average pooling of an ``(height, width, channels)`` image over ``size x size`` blocks
    (stride ``size``, no padding): the sum in ``accum``, divided by ``size**2`` (kept to
    ``accum``'s fractional bits), cast to ``result``."""

    size: int
    shape: tuple[int, int, int]
    accum: FixedType
    result: FixedType


@dataclass(frozen=True)
class Dense:
    """``result(accum(x @ weights + bias))`` with ``(n_in, n_out)`` weight and ``(n_out,)``
    bias codes of ``weight_frac`` and ``bias_frac`` fractional bits."""

    weights: np.ndarray
    weight_frac: int
    bias: np.ndarray
    bias_frac: int
    accum: FixedType
    result: FixedType


@dataclass(frozen=True)
class Relu:
    """``result(x)`` where ``x > 0``, else 0 (hls4ml's ``nnet::relu``)."""

    result: FixedType


@dataclass(frozen=True)
class Network:
    """The model as integer arithmetic: the input type and shape, then the layers."""

    input: FixedType
    input_shape: tuple[int, ...]
    layers: tuple = ()

    @property
    def output(self) -> FixedType:
        return self.layers[-1].result

    @property
    def multiplications(self) -> int:
        """Products by a non-zero weight per inference."""
        return int(sum(np.count_nonzero(layer.weights) for layer in self.layers
                       if isinstance(layer, Dense)))


def fixed_codes(values: np.ndarray, frac: int) -> np.ndarray:
    """Integer codes of values with ``frac`` fractional bits (an error if any is off the grid)."""
    codes = np.rint(np.asarray(values, np.float64) * 2.0 ** frac)
    if not np.array_equal(codes / 2.0 ** frac, values):
        raise ValueError("weights are not codes of their fixed-point type")
    return codes.astype(np.int64)


def network_from_hls(hls_model) -> Network:
    """The :class:`Network` of an ``io_parallel`` hls4ml model (``hls4ml.model.ModelGraph``)
    made of an input, average pooling, flatten, dense and ReLU layers."""
    layers, first = [], None
    for node in hls_model.get_layers():
        kind, out = node.class_name, FixedType.of(node.get_output_variable().type.precision)
        if kind == "Input":
            first = Network(out, tuple(int(d) for d in node.get_output_variable().shape))
        elif kind == "Pooling2D":
            if (node.get_attr("pool_op") != "Average" or node.get_attr("pool_height")
                    != node.get_attr("stride_height") or node.get_attr("pool_width")
                    != node.get_attr("pool_height") or node.get_attr("pad_top")
                    or node.get_attr("pad_left")):
                raise ValueError(f"{node.name}: only square unpadded average pooling is supported")
            shape = tuple(int(node.get_attr(k)) for k in ("in_height", "in_width", "n_filt"))
            layers.append(AvgPool(int(node.get_attr("pool_height")), shape,
                                  FixedType.of(node.get_attr("accum_t").precision), out))
        elif kind == "Dense":
            w, b = node.weights["weight"], node.weights["bias"]
            wf, bf = (FixedType.of(v.type.precision).fractional for v in (w, b))
            layers.append(Dense(fixed_codes(w.data, wf), wf, fixed_codes(b.data, bf), bf,
                                FixedType.of(node.get_attr("accum_t").precision), out))
        elif kind == "Activation" and node.get_attr("activation") == "relu":
            layers.append(Relu(out))
        elif kind != "Reshape":
            raise ValueError(f"{node.name}: no RTL for hls4ml layer {kind}")
    if first is None:
        raise ValueError("the model has no input layer")
    return Network(first.input, first.input_shape, tuple(layers))


def _check_pool(layer: AvgPool, source: FixedType) -> None:
    """Errors unless the RTL's pooling (an exact sum, a shift) is hls4ml's for these types."""
    shift, extra = 2 * int(math.log2(layer.size)), layer.accum.fractional - source.fractional
    if source.signed or layer.size & (layer.size - 1):
        raise ValueError("average pooling needs an unsigned input and a power-of-two size")
    if (extra < shift or layer.size ** 2 * source.code_bounds[1] << extra
            > layer.accum.code_bounds[1]):
        raise ValueError(f"pooling accumulator {layer.accum} is not exact: the RTL assumes it")


def _check_dense(layer: Dense, source: FixedType) -> int:
    """The exact accumulator's fractional bits; errors unless ``accum`` holds every sum."""
    frac = max(source.fractional + layer.weight_frac, layer.bias_frac)
    lo, hi = source.code_bounds
    w = layer.weights << (frac - source.fractional - layer.weight_frac)
    b = layer.bias << (frac - layer.bias_frac)
    # every partial sum of hls4ml's loop lies between these bounds
    top = (np.maximum(np.maximum(w * hi, w * lo), 0).sum(axis=0) + np.maximum(b, 0)).max()
    bottom = (np.minimum(np.minimum(w * hi, w * lo), 0).sum(axis=0) + np.minimum(b, 0)).min()
    a_lo, a_hi = layer.accum.code_bounds
    if layer.accum.fractional != frac or bottom < a_lo or top > a_hi:
        raise ValueError(f"accumulator {layer.accum} is not the exact one: the RTL assumes it")
    return frac


def csd(value: int) -> list[tuple[int, int]]:
    """Canonical signed digits of an integer: ``[(shift, +1 or -1), ...]`` with
    ``value == sum(sign << shift)`` and no two adjacent non-zero digits."""
    digits, shift = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 if value = 1 mod 4, -1 if 3 mod 4
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def _bits(lo: int, hi: int) -> int:
    """Width of the smallest signed vector that holds every integer of [lo, hi]."""
    return max(1, max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1)


@dataclass(frozen=True)
class _Term:
    """``sign * (expr << shift)`` where ``expr`` is a signed vector holding [lo, hi]."""

    expr: str
    lo: int
    hi: int
    shift: int = 0
    sign: int = 1

    @property
    def width(self) -> int:
        return _bits(self.lo, self.hi)


@dataclass
class Rtl:
    """Generated Verilog and what a test bench needs: the port widths, the latency."""

    source: str
    module: str
    input_bits: int  # bits per input value (the flat input port is len x input_bits)
    n_inputs: int
    output: FixedType
    latency: int  # clock cycles from the input port to the output port
    multiplications: int
    adders: int = 0


class _Builder:
    def __init__(self, levels_per_stage: int) -> None:
        self.lines: list[str] = []
        self.count = self.stages = self.adders = 0
        self.levels_per_stage = levels_per_stage

    def wire(self, expr: str, lo: int, hi: int, registered: bool = False) -> str:
        self.count += 1
        name = f"{'r' if registered else 'n'}{self.count}"
        self.lines.append(f"  {'reg' if registered else 'wire'} signed [{_bits(lo, hi) - 1}:0] {name};")
        self.lines.append(f"  always @(posedge clk) {name} <= {expr};" if registered
                          else f"  assign {name} = {expr};")
        return name

    def register(self, terms: list[_Term]) -> list[_Term]:
        return [_Term(self.wire(t.expr, t.lo, t.hi, True), t.lo, t.hi, t.shift, t.sign)
                for t in terms]

    def stage(self, groups: list[list[_Term]]) -> list[list[_Term]]:
        self.stages += 1
        return [self.register(terms) for terms in groups]

    def add(self, a: _Term, b: _Term) -> _Term:
        """``a + b`` with the smaller shift kept outside the adder."""
        if a.shift > b.shift:
            a, b = b, a
        k = b.shift - a.shift
        if a.sign == b.sign:
            lo, hi, op, sign = a.lo + (b.lo << k), a.hi + (b.hi << k), "+", a.sign
            first, second = a, b
        else:
            first, second = (a, b) if a.sign > 0 else (b, a)
            k1, k2 = first.shift - a.shift, second.shift - a.shift
            lo, hi = (first.lo << k1) - (second.hi << k2), (first.hi << k1) - (second.lo << k2)
            op, sign = "-", 1
        self.adders += 1

        def operand(t: _Term) -> str:  # operands widen, signed, to the sum's width first
            shift = t.shift - a.shift
            return f"($signed({t.expr}) <<< {shift})" if shift else f"$signed({t.expr})"

        expr = f"{operand(first)} {op} {operand(second)}"
        return _Term(self.wire(expr, lo, hi), lo, hi, a.shift, sign)

    def trees(self, groups: list[list[_Term]]) -> list[_Term]:
        """One sum per group of terms, by balanced adder trees of equal depth, pipelined."""
        level = 0
        while any(len(g) > 1 for g in groups):
            nxt = []
            for g in groups:
                g = sorted(g, key=lambda t: (t.shift, t.width))
                pairs = [self.add(g[i], g[i + 1]) for i in range(0, len(g) - 1, 2)]
                nxt.append(pairs + g[len(g) - len(g) % 2:])
            groups, level = nxt, level + 1
            if level % self.levels_per_stage == 0:
                groups = self.stage(groups)
        if level % self.levels_per_stage:
            groups = self.stage(groups)
        return [g[0] for g in groups]

    def cast(self, t: _Term, frac: int, to: FixedType, relu: bool = False) -> _Term:
        """``t`` (a code with ``frac`` fractional bits) as a code of ``to``, as hls4ml casts;
        with ``relu``, 0 where ``t <= 0``."""
        if t.sign < 0:
            t = _Term(self.wire(f"-$signed({t.expr})", -t.hi, -t.lo), -t.hi, -t.lo, t.shift)
        drop = frac - to.fractional - t.shift  # bits of t.expr below the target's LSB
        expr, lo, hi = f"$signed({t.expr})", t.lo, t.hi
        if drop < 0:
            expr, lo, hi = f"({expr} <<< {-drop})", lo << -drop, hi << -drop
        elif drop > 0:
            if to.rounding not in ("TRN", "RND_CONV"):
                raise ValueError(f"{to}: the RTL rounds with AP_TRN or AP_RND_CONV only")
            expr, lo, hi = f"({expr} >>> {drop})", lo >> drop, hi >> drop
            if to.rounding == "RND_CONV":  # round half to even: up if above half, or half and odd
                q, half = f"{t.expr}[{drop}]", f"{t.expr}[{drop - 1}]"
                rest = f"(|{t.expr}[{drop - 2}:0] | {q})" if drop > 1 else q
                hi += 1
                expr = self.wire(f"{expr} + $signed({{1'b0, {half} & {rest}}})", lo, hi)
        t_lo, t_hi = to.code_bounds
        if relu:
            expr, lo, hi = f"({t.expr}[{t.width - 1}] ? 0 : {expr})", max(lo, 0), max(hi, 0)
        if lo < t_lo or hi > t_hi:
            if to.saturation not in ("WRAP", "SAT"):
                raise ValueError(f"{to}: the RTL overflows with AP_WRAP or AP_SAT only")
            if to.saturation == "SAT":
                expr = (f"(({expr}) > {_literal(t_hi)} ? {_literal(t_hi)} : ({expr}) < "
                        f"{_literal(t_lo)} ? {_literal(t_lo)} : ({expr}))")
            else:
                n = self.wire(expr, lo, hi)
                bits = f"{n}[{to.width - 1}:0]"
                expr = f"$signed({bits})" if to.signed else f"$signed({{1'b0, {bits}}})"
            lo, hi = max(lo, t_lo), min(hi, t_hi)
        return _Term(self.wire(expr, lo, hi), lo, hi)


def _literal(value: int) -> str:
    width = _bits(value, value)
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def verilog(network: Network, module: str = "trigger", levels_per_stage: int = 2) -> Rtl:
    """One fully pipelined module: ports ``clk``, ``in_valid``, ``x`` (the flat input, value
    ``i`` in bits ``[i*W +: W]``), ``out_valid`` and ``y`` (the output codes, signed)."""
    b = _Builder(levels_per_stage)
    n_in, w_in = math.prod(network.input_shape), network.input.width
    x = [_Term(f"{{1'b0, x[{i * w_in} +: {w_in}]}}" if not network.input.signed
               else f"x[{i * w_in} +: {w_in}]", *network.input.code_bounds) for i in range(n_in)]
    [x] = b.stage([x])
    source = network.input
    for layer in network.layers:
        if isinstance(layer, AvgPool):
            _check_pool(layer, source)
            (h, w, c), s = layer.shape, layer.size
            index = np.arange(h * w * c).reshape(h // s, s, w // s, s, c).transpose(0, 2, 4, 1, 3)
            sums = b.trees([[x[i] for i in block.ravel()] for block in index.reshape(-1, s * s)])
            frac = source.fractional + 2 * int(math.log2(s))  # the division by s*s, exact
            x = [b.cast(t, frac, layer.result) for t in sums]
        elif isinstance(layer, Dense):
            frac = _check_dense(layer, source)
            extra = frac - source.fractional - layer.weight_frac
            groups = []
            for j in range(layer.weights.shape[1]):
                terms = [_Term(x[i].expr, x[i].lo, x[i].hi, x[i].shift + k + extra, d)
                         for i, wij in enumerate(layer.weights[:, j]) for k, d in csd(int(wij))]
                bias = int(layer.bias[j]) << (frac - layer.bias_frac)
                if bias:
                    shift = (bias & -bias).bit_length() - 1
                    m = abs(bias) >> shift
                    terms.append(_Term(f"{_bits(m, m)}'sd{m}", m, m, shift, 1 if bias > 0 else -1))
                groups.append(terms or [_Term("1'sd0", 0, 0)])
            x = [b.cast(t, frac, layer.result) for t in b.trees(groups)]
        else:
            x = [b.cast(t, source.fractional, layer.result, relu=True) for t in x]
            [x] = b.stage([x])
        source = layer.result
    [y] = b.stage([x])
    latency, w_out = b.stages, _bits(*network.output.code_bounds)
    head = [f"module {module} (input wire clk, input wire in_valid, "
            f"input wire [{n_in * w_in - 1}:0] x,",
            f"  output wire out_valid, output wire signed [{w_out - 1}:0] y);",
            f"  reg [{latency - 1}:0] valid = 0;",
            "  always @(posedge clk) valid <= {valid, in_valid};  // the MSB falls off",
            f"  assign out_valid = valid[{latency - 1}];",
            f"  assign y = {y[0].expr};"]
    source = "\n".join([*head, *b.lines, "endmodule", ""])
    return Rtl(source, module, w_in, n_in, network.output, latency, network.multiplications,
               b.adders)
