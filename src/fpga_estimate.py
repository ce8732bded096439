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

Cross-check with hls4ml: :func:`hls4ml_layer_table` reads from a converted hls4ml model the
products per pixel/pass, the non-zero weights, the reuse factor hls4ml actually chose (it moves
invalid values to the closest valid one), the number of passes, and hls4ml's own multiplier count
(``multiplier_limit``, which leaves out the products with zero weights); :func:`compare_with_hls4ml`
sets them next to this estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "DEVICES",
    "device_capacity",
    "estimate_model",
    "eq314_factor",
    "linear_scaling",
    "hls4ml_layer_table",
    "compare_with_hls4ml",
    "scan",
    "tune",
    "study_table_3_5",
]

#: Resources of the FPGAs of the study, as Vivado counts them (BRAM in 18 Kb halves).
#: Alveo U250 card (device xcu250-figd2104-2L-e) and Virtex UltraScale+ VU13P are the same die
#: size: 1,728K CLB LUTs, 3,456K CLB flip-flops, 12,288 DSP48E2 slices, 2,688 block RAMs of
#: 36 Kb (= 5,376 BRAM_18K, 94.5 Mb) and 1,280 UltraRAMs (Xilinx UltraScale+ product selection
#: guide XMP103, Virtex UltraScale+ table; Alveo U250 data sheet DS962). Vivado HLS reports the
#: xcu250 as BRAM_18K 5376, DSP 12288, FF 3456000, LUT 1728000, URAM 1280, and the study's
#: Table 3.5 percentages agree (288 BRAM_18K = 5 %, 377 = 7 %, 752 DSP = 6 %).
DEVICES: dict[str, dict[str, int]] = {
    "xcu250": {"DSP": 12_288, "LUT": 1_728_000, "FF": 3_456_000, "BRAM_18K": 5_376, "URAM": 1_280},
    "xcvu13p": {"DSP": 12_288, "LUT": 1_728_000, "FF": 3_456_000, "BRAM_18K": 5_376, "URAM": 1_280},
}
RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")

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


def device_capacity(part: str) -> dict[str, int]:
    """Resources of an FPGA part (``xcu250...`` or ``xcvu13p...``, any package/speed suffix)."""
    key = part.lower()
    for name, capacity in DEVICES.items():
        if key.startswith(name):
            return dict(capacity)
    raise ValueError(f"unknown FPGA part {part!r} (known: {', '.join(DEVICES)})")


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
    part: str = "xcu250-figd2104-2L-e",
    clock_period: float = 5.0,
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


def scan(keras_model, settings: Sequence[Mapping[str, Any]], **common: Any) -> pd.DataFrame:
    """Total ESTIMATE of one model under several settings.

    Each setting is a dict of :func:`estimate_model` keyword arguments (merged over ``common``).
    One row per setting: its entries (a mapping shown as text), then the total ``DSP``, ``LUT``,
    ``FF``, ``BRAM_18K``, their ``%`` of the part, ``latency_cycles``, ``latency_ns``,
    ``II_cycles`` and ``II_ns`` (the clock period times the II).
    """
    columns = [*RESOURCES, *(f"{k}_%" for k in RESOURCES), "latency_cycles", "latency_ns",
               "II_cycles"]
    rows = []
    for setting in settings:
        arguments = {**common, **setting}
        total = estimate_model(keras_model, **arguments).loc["total", columns]
        row = {k: str(dict(v)) if isinstance(v, Mapping) else v for k, v in setting.items()}
        row.update(total.to_dict())
        row["II_ns"] = row["II_cycles"] * float(arguments.get("clock_period", 5.0))
        rows.append(row)
    return pd.DataFrame(rows)


def tune(keras_model, budget: Mapping[str, float],
         reuse_factors: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), **common: Any) -> tuple[dict[str, dict[str, int]], pd.DataFrame]:
    """Per-layer reuse and parallelization factors of low ESTIMATED latency within a budget.

    ``budget`` maps resources to the % of the part they may take (e.g. ``{"DSP": 10, "LUT": 10}``).
    Convolutions, dense layers and instance norms get a reuse factor from ``reuse_factors``;
    ``io_parallel`` convolutions also a parallelization factor, a divisor of their output pixels
    (hls4ml accepts no other). A layer's estimate does not depend on the others' settings, so each
    layer's options are estimated once; a greedy search starts from the cheapest option of every
    layer and repeatedly takes the change with the largest latency saving per share of the budget
    it adds, while the totals stay within the budget. Returns ``({"reuse_factor": {layer: R},
    "parallelization_factor": {layer: PF}}, estimate_model table of that choice)``; raises
    ``ValueError`` if even the cheapest options exceed the budget.
    """
    base = estimate_model(keras_model, **common)
    stream = common.get("io_type", "io_parallel") == "io_stream"
    tunable = base.index[base["type"].isin(["Conv2D", "QConv2D", "Dense", "QDense",
                                            "InstanceNormalization"])]
    pixels = {layer.name: _pixels(_shape(layer.output_shape)) for layer in keras_model.layers}
    pfs = sorted({d for n in tunable for d in range(1, pixels[n] + 1) if pixels[n] % d == 0})
    limit = {k: v * device_capacity(common.get("part", "xcu250"))[k] / 100 for k, v in budget.items()}
    options: dict[str, dict[tuple[int, int], pd.Series]] = {n: {} for n in tunable}
    for reuse in reuse_factors:
        for pf in (pfs if not stream else [1]):
            table = estimate_model(keras_model, **{**common, "reuse_factor": reuse,
                                                   "parallelization_factor": pf})
            for name in tunable:
                conv = base.loc[name, "type"].endswith("Conv2D") and not stream
                if (pixels[name] % pf == 0) if conv else pf == 1:
                    options[name][reuse, pf if conv else 1] = table.loc[name]
    fixed = base.drop(index=[*tunable, "total"])
    total = {k: float(fixed[k].sum()) for k in limit}

    def share(row: pd.Series) -> float:
        return max(row[k] / limit[k] for k in limit)

    choice = {n: min(opts, key=lambda key, o=opts: (share(o[key]), o[key]["latency_cycles"]))
              for n, opts in options.items()}
    for name, key in choice.items():
        for k in limit:
            total[k] += options[name][key][k]
    if any(total[k] > limit[k] for k in limit):
        raise ValueError(f"even the cheapest settings exceed the budget {dict(budget)}: {total}")
    while True:
        best, best_gain = None, 0.0
        for name, opts in options.items():
            now = opts[choice[name]]
            for key, row in opts.items():
                saved = now["latency_cycles"] - row["latency_cycles"]
                added = {k: row[k] - now[k] for k in limit}
                if saved <= 0 or any(total[k] + added[k] > limit[k] for k in limit):
                    continue
                gain = saved / max(max(added[k] / limit[k] for k in limit), 1e-9)
                if gain > best_gain:
                    best, best_gain = (name, key, added), gain
        if best is None:
            break
        name, key, added = best
        choice[name] = key
        for k in limit:
            total[k] += added[k]
    settings = {"reuse_factor": {n: r for n, (r, _) in choice.items()},
                "parallelization_factor": {n: pf for n, (_, pf) in choice.items()
                                           if base.loc[n, "type"].endswith("Conv2D")}}
    merged = {**common, "reuse_factor": settings["reuse_factor"],
              "parallelization_factor": {"default": 1, **settings["parallelization_factor"]}}
    return settings, estimate_model(keras_model, **merged)


#: The study's Table 3.5 (thesis): Vivado HLS 2020.1 estimates for blocks of the quantized reduced
#: encoder on the U250 at 5 ns, with the shape column (h_in, w_in, d_in, d_out) as printed. The
#: conv2_b0_0 row was not synthesized: it is conv2_b1_1 times 16 (eq. 3.14).
STUDY_TABLE_3_5 = {
    "conv2_b0_0": ((20, 20, 16, 10), 752, 6_189_696, 229_536, 288),
    "conv2_b1_1": ((10, 10, 20, 5), 47, 386_856, 14_346, 18),
    "dconv_b2": ((5, 5, 4, 4), 15, 309_544, 9_352, 4),
    "final block": ((5, 5, 4, 2), 851, 91_763, 28_074, 377),
}


def study_table_3_5(part: str = "xcu250-figd2104-2L-e") -> pd.DataFrame:
    """:data:`STUDY_TABLE_3_5` as a table with each resource's ``%`` of ``part``."""
    capacity = device_capacity(part)
    table = pd.DataFrame.from_dict(
        {name: {"shape": shape, **dict(zip(RESOURCES, values, strict=True))}
         for name, (shape, *values) in STUDY_TABLE_3_5.items()}, orient="index")
    for key in RESOURCES:
        table[f"{key}_%"] = 100.0 * table[key] / capacity[key]
    table.index.name = "block"
    return table


def eq314_factor(target: tuple[int, int, int, int], reference: tuple[int, int, int, int],
                 stride: int = 2) -> float:
    """Scaling factor of the study's eq. 3.14 between two strided convolutions ``a`` and ``b``.

    ``rho(a, b) = (h_in^a/s * w_in^a/s * d_in^a * d_out^a) / (h_in^b/s * w_in^b/s * d_in^b * d_out^b)``
    with each layer given as ``(h_in, w_in, d_in, d_out)``, ``d`` the channels. For equal kernels
    and strides this is the ratio of their multiplications. The thesis prints ``d_in^b`` twice in
    the denominator; its Table 3.5 (factor 16 between conv2_b0_0, (20, 20, 16) -> 20 channels, and
    conv2_b1_1, (10, 10, 20) -> 4 channels) is reproduced with ``d_out^b``.
    """
    for shape in (target, reference):
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"a layer is (h_in, w_in, d_in, d_out) with positive entries, got {shape}")
    h_a, w_a, di_a, do_a = target
    h_b, w_b, di_b, do_b = reference
    return ((h_a / stride) * (w_a / stride) * di_a * do_a) / ((h_b / stride) * (w_b / stride) * di_b * do_b)


def linear_scaling(reference_resources: Mapping[str, float], target: tuple[int, int, int, int],
                   reference: tuple[int, int, int, int], stride: int = 2,
                   part: str | None = "xcu250-figd2104-2L-e") -> dict[str, float]:
    """ESTIMATE the resources of a convolution too big to synthesize from a synthesized smaller one.

    The reference layer's resources (e.g. ``{"DSP": 47, "LUT": 386856}``) are multiplied by
    :func:`eq314_factor` (the study's eq. 3.14). With ``part``, ``<resource>_%`` entries give the
    share of the device for the resources it knows.
    """
    factor = eq314_factor(target, reference, stride)
    scaled = {key: float(value) * factor for key, value in reference_resources.items()}
    if part is not None:
        capacity = device_capacity(part)
        scaled.update({f"{k}_%": 100.0 * v / capacity[k] for k, v in list(scaled.items()) if k in capacity})
    return scaled


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
