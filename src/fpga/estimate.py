"""FPGA resource and latency ESTIMATES for (Q)Keras models, made without Vivado.

Every number here is an estimate from operation counts and a few stated rules, not a synthesis
result. It is meant to show orders of magnitude and trends (reuse factor, strategy, I/O type,
bit widths), and to be compared with Vivado/Vitis HLS reports where those exist
(``hls4ml.report.read_vivado_report(output_dir)`` after ``hls_model.build()``).

Model, per layer (``R`` = reuse factor, ``w``/``a`` = weight/input bit widths):

- Multiplications per inference: conv ``H_out * W_out * K_h * K_w * C_in / groups * C_out``,
  dense ``N_in * N_out``, instance norm ``3 * H * W * C + 2 * C`` (square, times 1/sqrt, times gamma;
  mean and variance scalings). Per pass: the whole layer for ``io_parallel`` (all output pixels
  in parallel, as the hls4ml versions of the study did; hls4ml >= 0.8 computes
  ``ParallelizationFactor`` pixels per pass, default 1, which ``parallelization_factor`` models),
  one kernel position for ``io_stream`` convolutions (hls4ml docs, "I/O Types": one pixel at a time).
- Multipliers: ``ceil(mults_per_pass / R)`` (hls4ml's reuse factor: each multiplier is used ``R``
  times; hls4ml's ``multiplier_limit = ceil(n_in * n_out / R)``).
- DSP or LUT: a product uses DSP48E2 slices only if both operands are wider than
  ``dsp_threshold_bits`` (default 10), then ``ceil(max(w, a) / 27) * ceil(min(w, a) / 18)`` of them
  (27x18 multiplier, Xilinx UG579). Narrower products are built from LUTs. The rule follows the
  hls4ml studies, where DSP use drops steeply as weights and activations are quantized to low
  precision and the products move to LUTs (Duarte et al. 2018, JINST 13 P07027, resource scans
  versus fixed-point precision; Aarrestad et al. 2021, Mach. Learn.: Sci. Technol. 2 045015,
  QKeras convolutional models); where exactly Vivado HLS switches is a tool heuristic, so the
  threshold of 10 bits is this module's choice and a parameter. Vivado HLS may also put wider
  constant products into LUTs: the study's Table 3.5 lists 47 DSPs next to 386,856 LUTs for a
  16-bit block with thousands of products (try ``dsp_threshold_bits=16``).
- LUTs of a LUT product: with a constant weight (Latency strategy: weights are constants in the
  fabric) a shift-and-add multiplier, ``w * a / 3`` (canonical signed digits: on average ``w / 3``
  non-zero digits, each an ``a``-bit adder at one LUT per bit); with two variable operands
  ``1.42 * w * a`` (Xilinx LogiCORE Multiplier DS255: a 9x9 LUT multiplier takes 115 LUTs).
  Plus one accumulation adder of ``w + a + ceil(log2 n_acc)`` bits (one LUT per bit) per multiplier.
- FFs: a product register (``w + a`` bits) per multiplier and an accumulator register per output
  of a pass.
- Activations and additions: one LUT and one FF per bit of each value handled at once (all
  values for ``io_parallel``, one pixel for ``io_stream``), one cycle. Instance norm: three
  products per value (squared deviation, times 1/sqrt, times gamma) with the rules above, adders
  for its two sums, two adder trees over the image plus four multiplier stages in latency.
- BRAM_18K: Resource strategy stores the weights as ``R`` words of ``ceil(n_weights / R) * w``
  bits (hls4ml reshapes the weight array by the reuse factor); ``io_stream`` layers add an output
  FIFO as deep as the output image (hls4ml's default, the most conservative depth, docs "I/O
  Types"); instance norm adds one 1/sqrt table per channel and, for ``io_stream``, its image
  buffers; table-based activations (sigmoid, tanh, softmax...) one dual-port ROM per two lookups.
  A memory takes the cheapest of the 18 Kb block shapes (512x36 ... 16Kx1); memories under
  1 Kbit or 32 words are left to LUTRAM/registers and not counted.
- Latency in clock cycles: ``passes * R`` plus the multiplier pipeline (3 stages in a DSP48E2, 1 in
  LUTs), one stage per adder-tree level (``ceil(log2 n_acc)``) and an output register;
  ``io_stream`` convolutions read the ``H_in * W_in`` input pixels one per ``R`` cycles. The
  initiation interval (II) is ``passes * R``. The model's latency is the sum over layers (no overlap
  of ``io_stream`` layers is assumed) and its II the largest layer II.
- Pooling over ``p`` positions: ``p - 1`` comparators (max) or adders (average; the ``1/p`` is a
  shift for a power-of-two ``p``) per output value handled at once, one LUT per bit each, a tree
  of ``ceil(log2 p)`` levels plus an output register; ``io_stream`` reads the input one pixel per
  cycle and buffers ``pool_h - 1`` input rows.

Layers without arithmetic (input, flatten, reshape, dropout) get no row. Widths: QKeras
quantizers give the weight and activation bits; other tensors get ``default_bits`` (hls4ml's model
default precision, 16 bits in ``ap_fixed<16,6>``), and ``precision_overrides`` can set any of them.

The estimate is set beside hls4ml's own plan of the multipliers in :mod:`src.fpga.crosscheck`
and searched over in :mod:`src.fpga.search`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from .devices import CLOCK_NS, RESOURCES, U250_PART, device_capacity

DSP_A_BITS, DSP_B_BITS = 27, 18  # DSP48E2 multiplier (UG579)
DSP_PIPELINE = 3  # A/B, M and P registers of a DSP48E2
CSD_LUT_PER_BIT = 1 / 3  # constant multiplier: w/3 non-zero digits, one a-bit adder each
LUT_MULT_PER_BIT = 115 / 81  # LogiCORE 9x9 LUT multiplier (DS255): 115 LUTs
BRAM18_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
MIN_BRAM_BITS, MIN_BRAM_WORDS = 1024, 32
TABLE_SHAPE = (1024, 18)  # entries x bits: hls4ml activation tables, the default 1/sqrt table

_PASS_THROUGH = {"InputLayer", "Flatten", "Reshape", "Dropout"}
_POOLING = {"AveragePooling2D", "MaxPooling2D"}
_KNOWN = _PASS_THROUGH | _POOLING | {"Conv2D", "QConv2D", "Dense", "QDense", "InstanceNormalization",
                                     "Activation", "QActivation", "ReLU", "LeakyReLU", "Softmax",
                                     "Add"}
_PIECEWISE_LINEAR = {"linear", "relu", "relu6", "leaky_relu", "quantized_relu", "quantized_bits",
                     "ReLU", "LeakyReLU", "binary", "ternary"}


@dataclass
class _Cost:
    mults: int = 0
    parallel_mults: int = 0
    DSP: int = 0
    LUT: int = 0
    FF: int = 0
    BRAM_18K: int = 0
    latency: int = 0
    ii: int = 1

    def add(self, other: _Cost) -> None:
        for field in ("mults", "parallel_mults", "DSP", "LUT", "FF", "BRAM_18K"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.latency += other.latency
        self.ii = max(self.ii, other.ii)


def _log2(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def _product(w: int, a: int, constant: bool, threshold: int) -> tuple[int, int]:
    """(DSPs, LUTs) of one multiplier of a w-bit by an a-bit operand."""
    if w > threshold and a > threshold:
        return math.ceil(max(w, a) / DSP_A_BITS) * math.ceil(min(w, a) / DSP_B_BITS), 0
    return 0, math.ceil((CSD_LUT_PER_BIT if constant else LUT_MULT_PER_BIT) * w * a)


def bram18(words: int, width: int) -> int:
    """BRAM_18K blocks of a ``words`` x ``width`` memory (0 for LUTRAM-sized memories)."""
    if words * width < MIN_BRAM_BITS or words < MIN_BRAM_WORDS:
        return 0
    return min(math.ceil(width / w) * math.ceil(words / d) for w, d in BRAM18_SHAPES)


def _mac(mults: int, per_pass: int, passes: int, n_acc: int, outputs_per_pass: int, weights: int,
         w: int, a: int, reuse: int, resource: bool, threshold: int) -> _Cost:
    """A layer of multiply-accumulates (convolution or dense)."""
    parallel = math.ceil(per_pass / reuse)
    dsp, lut = _product(w, a, constant=not resource, threshold=threshold)
    acc_bits = w + a + _log2(n_acc)
    return _Cost(
        mults=mults,
        parallel_mults=parallel,
        DSP=parallel * dsp,
        LUT=parallel * (lut + acc_bits),
        FF=parallel * (w + a) + outputs_per_pass * acc_bits,
        BRAM_18K=bram18(reuse, math.ceil(weights / reuse) * w) if resource else 0,
        latency=passes * reuse + (DSP_PIPELINE if dsp else 1) + _log2(n_acc) + 1,
        ii=passes * reuse,
    )


def _elementwise(n: int, pixels: int, bits: int, stream: bool, table: bool) -> _Cost:
    """Activation or addition on ``n`` values: all at once (``io_parallel``, one cycle) or one
    pixel of ``n / pixels`` values per cycle (``io_stream``)."""
    lanes = n // pixels if stream else n
    return _Cost(
        LUT=lanes * bits,
        FF=lanes * bits,
        BRAM_18K=math.ceil(lanes / 2) * bram18(*TABLE_SHAPE) if table else 0,
        latency=(pixels if stream else 0) + 1,
        ii=pixels if stream else 1,
    )


def _kind(layer) -> str:
    """The layer's class, or the first known base class of a subclass (e.g. a Conv2D subclass)."""
    return next((c.__name__ for c in type(layer).__mro__ if c.__name__ in _KNOWN), type(layer).__name__)


def _quantizer_bits(quantizer) -> int | None:
    bits = getattr(quantizer, "bits", None)
    return int(bits) if bits is not None else None


def _activation_name(layer) -> str:
    act = getattr(layer, "activation", None) or getattr(layer, "quantizer", None)
    if act is None:
        return "linear"
    return getattr(act, "__name__", None) or type(act).__name__


def _inbound(layer) -> list:
    nodes = layer.inbound_nodes
    if len(nodes) != 1:
        raise ValueError(f"layer {layer.name!r} is used {len(nodes)} times; estimates need each layer once")
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(int(d) for d in shape[1:])


def estimate_model(
    keras_model,
    reuse_factor: int | Mapping[str, int] = 1,
    strategy: str = "Latency",
    io_type: str = "io_parallel",
    precision_overrides: Mapping[str, Mapping[str, int]] | None = None,
    part: str = U250_PART,
    clock_period: float = CLOCK_NS,
    default_bits: int = 16,
    parallelization_factor: int | Mapping[str, int | None] | None = None,
    dsp_threshold_bits: int = 10,
) -> pd.DataFrame:
    """Per-layer ESTIMATE of multiplications, DSP, LUT, FF, BRAM_18K, latency and II.

    ``reuse_factor`` is one value or a mapping from layer name to value (its ``"default"`` entry,
    else 1, for the others). ``precision_overrides`` maps a layer name to bit widths under
    ``"weight"``, ``"input"`` and ``"output"``. ``parallelization_factor`` is the number of output
    pixels an ``io_parallel`` convolution computes per pass (``None``: all of them; hls4ml >= 0.8
    defaults to 1), one value or a mapping like ``reuse_factor``'s. Returns one row per layer
    with arithmetic (index: layer name) plus a ``total`` row; columns ``type``, ``reuse_factor``, ``weight_bits``, ``input_bits``, ``mults``
    (per inference), ``parallel_mults`` (multipliers), ``DSP``, ``LUT``, ``FF``, ``BRAM_18K``,
    ``latency_cycles``, ``II_cycles``, their ``<resource>_%`` of ``device_capacity(part)`` and
    ``latency_ns`` at ``clock_period``.
    """
    if strategy.lower() not in ("latency", "resource"):
        raise ValueError(f"strategy must be 'Latency' or 'Resource', got {strategy!r}")
    if io_type not in ("io_parallel", "io_stream"):
        raise ValueError(f"io_type must be 'io_parallel' or 'io_stream', got {io_type!r}")
    capacity = device_capacity(part)
    resource = strategy.lower() == "resource"
    stream = io_type == "io_stream"
    overrides = {k: dict(v) for k, v in (precision_overrides or {}).items()}
    unknown = set(overrides) - {layer.name for layer in keras_model.layers}
    if unknown:
        raise ValueError(f"precision_overrides names unknown layers: {sorted(unknown)}")

    def reuse_of(name: str) -> int:
        if isinstance(reuse_factor, Mapping):
            value = reuse_factor.get(name, reuse_factor.get("default", 1))
        else:
            value = reuse_factor
        if int(value) != value or value < 1:
            raise ValueError(f"reuse factor of {name!r} must be a positive integer, got {value!r}")
        return int(value)

    out_bits: dict[str, int] = {}
    rows: dict[str, dict] = {}
    for layer in keras_model.layers:
        kind = _kind(layer)
        own = overrides.get(layer.name, {})
        if kind == "InputLayer":
            out_bits[layer.name] = own.get("output", default_bits)
            continue
        sources = _inbound(layer)
        a = own.get("input", out_bits[sources[0].name])
        if kind in _PASS_THROUGH:
            out_bits[layer.name] = own.get("output", a)
            continue
        reuse = reuse_of(layer.name)
        in_shape, out_shape = _shape(layer.input_shape), _shape(layer.output_shape)
        n_out, pixels = math.prod(out_shape), _pixels(out_shape)
        w = None
        result_bits = None
        if kind in ("Conv2D", "QConv2D", "Dense", "QDense"):
            w = own.get("weight", _quantizer_bits(getattr(layer, "kernel_quantizer_internal", None))
                        or default_bits)
            if kind.endswith("Conv2D"):
                cost = _conv(layer, in_shape, out_shape, w, a, reuse, resource, stream,
                             _per_layer(parallelization_factor, layer.name), dsp_threshold_bits)
            else:
                n_in, n_o = (int(d) for d in layer.kernel.shape)
                cost = _mac(n_in * n_o, n_in * n_o, 1, n_in, n_o, n_in * n_o, w, a, reuse, resource,
                            dsp_threshold_bits)
            act = _activation_name(layer)
            if act != "linear":
                cost.add(_elementwise(n_out, pixels, a, stream, table=act not in _PIECEWISE_LINEAR))
            result_bits = _quantizer_bits(getattr(layer, "activation", None))
        elif kind == "InstanceNormalization":
            w = own.get("weight", default_bits)
            cost = _instancenorm(in_shape, a, w, reuse, stream, dsp_threshold_bits)
        elif kind in ("Activation", "QActivation", "ReLU", "LeakyReLU", "Softmax"):
            act = "softmax" if kind == "Softmax" else _activation_name(layer)
            table = kind not in ("ReLU", "LeakyReLU") and act not in _PIECEWISE_LINEAR
            cost = _elementwise(n_out, pixels, a, stream, table=table)
            result_bits = _quantizer_bits(getattr(layer, "quantizer", None))
        elif kind in _POOLING:
            cost = _pool(in_shape, out_shape, math.prod(layer.pool_size), int(layer.pool_size[0]),
                         a, kind == "AveragePooling2D", stream)
            result_bits = a
        elif kind == "Add":
            cost = _elementwise(n_out * (len(sources) - 1), pixels, a + 1, stream, table=False)
        else:
            raise ValueError(f"no estimate for layer {layer.name!r} of type {kind}")

        out_bits[layer.name] = own.get("output", result_bits or default_bits)
        if stream:
            cost.BRAM_18K += bram18(pixels, (n_out // pixels) * out_bits[layer.name])
        rows[layer.name] = {"type": kind, "reuse_factor": reuse, "weight_bits": w, "input_bits": a,
                            **_row(cost)}

    if not rows:
        raise ValueError("the model has no layer with arithmetic to estimate")
    table = pd.DataFrame.from_dict(rows, orient="index")
    total = {key: table[key].sum() for key in ("mults", "parallel_mults", *RESOURCES, "latency_cycles")}
    total.update(type="total", II_cycles=table["II_cycles"].max())
    table.loc["total"] = pd.Series(total)
    counts = ["mults", "parallel_mults", *RESOURCES, "latency_cycles", "II_cycles"]
    table[counts] = table[counts].astype("int64")
    for key in RESOURCES:
        table[f"{key}_%"] = 100.0 * table[key].astype(float) / capacity[key]
    table["latency_ns"] = table["latency_cycles"].astype(float) * clock_period
    table.index.name = "layer"
    return table


def _conv(layer, in_shape, out_shape, w: int, a: int, reuse: int, resource: bool, stream: bool,
          parallelization_factor: int | None, threshold: int) -> _Cost:
    kh, kw, c_in_g, c_out = (int(d) for d in layer.kernel.shape)
    pixels_out = out_shape[0] * out_shape[1]
    kernel = kh * kw * c_in_g * c_out
    if stream:
        per_pass, passes = kernel, in_shape[0] * in_shape[1]
    elif parallelization_factor is None:
        per_pass, passes = kernel * pixels_out, 1
    else:
        if parallelization_factor < 1:
            raise ValueError(f"parallelization_factor must be >= 1, got {parallelization_factor}")
        pf = min(parallelization_factor, pixels_out)
        per_pass, passes = kernel * pf, math.ceil(pixels_out / pf)
    return _mac(kernel * pixels_out, per_pass, passes, kh * kw * c_in_g, c_out * (per_pass // kernel),
                kernel, w, a, reuse, resource, threshold)


def _per_layer(value, name: str):
    """A setting given for all layers, or per layer name with a ``"default"`` entry."""
    return value.get(name, value.get("default")) if isinstance(value, Mapping) else value


def _pixels(shape: tuple[int, ...]) -> int:
    return math.prod(shape[:-1]) if len(shape) > 1 else 1


def _row(cost: _Cost) -> dict:
    return {"mults": cost.mults, "parallel_mults": cost.parallel_mults, "DSP": cost.DSP,
            "LUT": cost.LUT, "FF": cost.FF, "BRAM_18K": cost.BRAM_18K,
            "latency_cycles": cost.latency, "II_cycles": cost.ii}


def _pool(in_shape, out_shape, pool: int, pool_h: int, bits: int, average: bool,
          stream: bool) -> _Cost:
    """Max or average pooling over ``pool`` positions (see the module docstring)."""
    n_out, pixels = math.prod(out_shape), _pixels(out_shape)
    lanes = n_out // pixels if stream else n_out
    width = bits + (_log2(pool) if average else 0)
    in_pixels = _pixels(in_shape)
    buffered = stream and len(in_shape) == 3
    rows = bram18((pool_h - 1) * in_shape[1], in_shape[-1] * bits) if buffered else 0
    latency = _log2(pool) + 1
    return _Cost(LUT=lanes * (pool - 1) * width, FF=lanes * bits, BRAM_18K=rows,
                 latency=latency + (in_pixels if stream else 0), ii=in_pixels if stream else 1)


def _instancenorm(shape: tuple[int, ...], a: int, w: int, reuse: int, stream: bool,
                  threshold: int) -> _Cost:
    """Instance norm as in src/hls/nnet_instancenorm.h: two sums over the image per channel,
    three products per value (the squared deviation, (a+1) x (a+1) bits; deviation times
    1/sqrt, (a+1) x 18; normalized value times gamma, 18 x w), a 1/sqrt table per channel."""
    n = math.prod(shape[:-1])
    c = shape[-1]
    d_bits, r_bits = a + 1, TABLE_SHAPE[1]
    dsp = lut = 0
    for w_op, a_op, constant in ((d_bits, d_bits, False), (d_bits, r_bits, False), (w, r_bits, True)):
        p_dsp, p_lut = _product(w_op, a_op, constant, threshold)
        parallel = math.ceil(n * c / reuse)
        dsp += parallel * p_dsp
        lut += parallel * p_lut
    acc_bits = 2 * d_bits + _log2(n)
    adders = math.ceil(3 * n * c / reuse)  # sum, sum of squares, deviation
    mult_depth = DSP_PIPELINE if dsp else 1
    latency = 2 * _log2(n) + 4 * mult_depth + 5 + (reuse - 1)
    buffers = 2 * c * bram18(n, a) if stream else 0
    return _Cost(
        mults=3 * n * c + 2 * c,
        parallel_mults=3 * math.ceil(n * c / reuse) + 2 * c,
        DSP=dsp,
        LUT=lut + adders * acc_bits,
        FF=math.ceil(n * c / reuse) * (d_bits + 2 * acc_bits),
        BRAM_18K=c * bram18(*TABLE_SHAPE) + buffers,
        latency=latency + (2 * n if stream else 0),
        ii=(2 * n + latency) if stream else reuse,
    )
