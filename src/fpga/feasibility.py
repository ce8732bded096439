"""Feasibility of the firmware against the study's numbers and a Level-1 trigger budget.

From the study: its Table 3.5 as a table, its eq. 3.14 (linear scaling of a block too big to
synthesize from a smaller one), and the mapping from the study's block names to the layers
of our reduced encoder (:data:`BLOCKS`, :func:`block_comparison`, :func:`eq314`). For our
models: the per-layer reference estimate (:func:`reference_estimates`, :func:`layer_table`),
the scan of uniform settings (:data:`SCAN_GRID`, :func:`scan_models`, :func:`hits`), the
per-layer search under budgets (:func:`tune_models`, :func:`tuned_summary`,
:func:`products_in_luts`) and the verdict against the trigger targets (:data:`TARGETS`,
:func:`verdict_table`, :func:`verdict_text`), every sentence computed from the numbers.
Resource and latency figures here are ESTIMATES of :mod:`src.fpga.estimate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..analysis.tables import NAMES as TABLE_NAMES
from ..study import TABLE_3_5
from .devices import CLOCK_NS, RESOURCES, U250_PART, device_capacity
from .estimate import estimate_model
from .search import scan, tune

#: Blocks of the study's Table 3.5 -> layers of our reduced encoder. The study names a block
#: after the layer that feeds it (read from its shapes): its "conv2_b0_0" block is our
#: ``dconv_b1`` convolution, (20, 20, 16) -> (10, 10, 20), with its normalization and
#: activation; the "final block" is ``conv_fin`` with its normalization and the three heads.
#: The first layer of every block is its convolution.
BLOCKS: dict[str, list[str]] = {
    "conv2_b0_0": ["dconv_b1", "dconv_b1_norm", "dconv_b1_act"],
    "conv2_b1_1": ["dconv_b2", "dconv_b2_norm", "dconv_b2_act"],
    "dconv_b2": ["conv1_b2_0", "conv1_b2_0_norm", "conv1_b2_0_act"],
    "final block": ["conv_fin", "conv_fin_norm", "z_categorical", "z_mean", "z_var"],
}
#: The study's scaled block and the block it was scaled from (eq. 3.14).
EQ314_BLOCKS = ("conv2_b0_0", "conv2_b1_1")
STUDY_SOURCE = "study (Vivado HLS)"
ALL_PIXELS, ONE_PIXEL = "ours, all pixels per pass", "ours, one pixel per pass"
#: Columns of a per-layer estimate worth reading.
LAYER_COLUMNS = ["type", "reuse_factor", "mults", "DSP", "LUT", "FF", "BRAM_18K", "DSP_%",
                 "LUT_%", "FF_%", "BRAM_18K_%", "latency_cycles", "II_cycles", "latency_ns"]

#: Readable column names of the chapter's tables (for :func:`src.analysis.tables.show`); a
#: resource share ``<resource>_%`` is of the U250.
NAMES = {**TABLE_NAMES, "reuse_factor": "reuse factor", "mults": "multiplications",
         "BRAM_18K": "BRAM 18K", "latency_cycles": "latency [cycles]", "II_cycles": "II [cycles]",
         "latency_ns": "latency [ns]", "mults_estimate": "products, our estimate",
         "mults_hls4ml": "products, hls4ml", "multipliers_estimate": "multipliers, our estimate",
         "multiplier_limit_hls4ml": "multipliers, hls4ml", "reuse_estimate": "reuse, ours",
         "reuse_hls4ml": "reuse, hls4ml", "mults_ratio": "products, ours / hls4ml",
         **{f"{k}{sep}": f"{k.replace('_18K', '')} [% of U250]" for k in ("DSP", "LUT", "FF", "BRAM_18K")
            for sep in ("_%", " %")},
         **{f"{k}_% VU13P": f"{k} [% of VU13P]" for k in ("DSP", "LUT")},
         **{name: name for name in ("identical to io_parallel", *(f"study, {b}" for b in EQ314_BLOCKS))}}
#: Decimals of the columns of per-layer estimates (:data:`LAYER_COLUMNS`) and their totals.
LAYER_DIGITS = {**dict.fromkeys(["reuse_factor", "mults", "DSP", "LUT", "FF", "BRAM_18K",
                                 "latency_cycles", "II_cycles", "latency_ns"], 0),
                **dict.fromkeys(["DSP_%", "LUT_%", "FF_%", "BRAM_18K_%", "DSP_% VU13P",
                                 "LUT_% VU13P"], 1)}

#: Uniform settings of the design scan: reuse factors with one or all output pixels per pass,
#: the Resource strategy (weights in BRAM) and io_stream.
SCAN_GRID: tuple[dict[str, Any], ...] = (
    *({"reuse_factor": r, "parallelization_factor": pf, "strategy": "Latency",
       "io_type": "io_parallel"} for r in (1, 4, 16, 64) for pf in (1, None)),
    *({"reuse_factor": r, "parallelization_factor": 1, "strategy": "Resource",
       "io_type": "io_parallel"} for r in (4, 16, 64)),
    *({"reuse_factor": r, "strategy": "Latency", "io_type": "io_stream"} for r in (1, 4, 16)),
)


@dataclass(frozen=True)
class Targets:
    """What a Level-1 trigger algorithm may take (our targets for the student)."""

    latency_ns: float = 1000.0  # at most 1 µs
    stretch_latency_ns: float = 200.0  # better: under 200 ns
    resource_pct: float = 10.0  # at most this % of the part's ...
    resources: tuple[str, ...] = ("DSP", "LUT")  # ... DSPs and LUTs
    auc_gap: float = 0.01  # emulated AUC within this of the QKeras twin's

    @property
    def budget(self) -> dict[str, float]:
        """The resource budget of :func:`src.fpga.search.tune` [% of the part]."""
        return dict.fromkeys(self.resources, self.resource_pct)

    @property
    def budget_name(self) -> str:
        """E.g. ``"10% of DSP and LUT"``."""
        return f"{self.resource_pct:g}% of {' and '.join(self.resources)}"


TARGETS = Targets()
WHOLE_DEVICE = "whole U250"
#: Budgets of the per-layer search: the trigger budget and the whole device.
BUDGETS: dict[str, dict[str, float]] = {TARGETS.budget_name: TARGETS.budget,
                                        WHOLE_DEVICE: dict.fromkeys(RESOURCES, 100.0)}
#: :func:`src.fpga.search.tune`'s result (settings, estimate table) or None where nothing fits.
Tuned = tuple[dict[str, dict[str, int]], pd.DataFrame] | None


def study_table_3_5(part: str = U250_PART) -> pd.DataFrame:
    """The study's Table 3.5 (:data:`src.study.TABLE_3_5`) with each resource's ``%`` of
    ``part``."""
    capacity = device_capacity(part)
    table = pd.DataFrame.from_dict(
        {name: {"shape": shape, **dict(zip(RESOURCES, values, strict=True))}
         for name, (shape, *values) in TABLE_3_5.values.items()}, orient="index")
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
                   part: str | None = U250_PART) -> dict[str, float]:
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


def compare_blocks(study: pd.DataFrame, estimates: Mapping[str, pd.DataFrame],
                   blocks: Mapping[str, list[str]] = BLOCKS,
                   part: str = U250_PART) -> pd.DataFrame:
    """Resources of every block: the study's row beside the sum of its layers in each estimate.

    Index ``(block, source)``; columns the resources and their ``<resource> %`` of ``part``.
    """
    capacity = device_capacity(part)
    rows = {}
    for block, members in blocks.items():
        sources = ((STUDY_SOURCE, study.loc[[block]]),
                   *((name, table.loc[members]) for name, table in estimates.items()))
        for source, table in sources:
            sums = table[list(RESOURCES)].sum()
            rows[block, source] = {**{k: sums[k] for k in RESOURCES},
                                   **{f"{k} %": 100 * sums[k] / capacity[k] for k in RESOURCES}}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["block", "source"])


def block_comparison(encoder, one_pixel: pd.DataFrame, part: str = U250_PART) -> pd.DataFrame:
    """:func:`compare_blocks` of the study's Table 3.5 and our reduced ``encoder`` estimated
    with all output pixels of a convolution per pass (as the hls4ml of 2022 built it) and
    ``one_pixel`` per pass (hls4ml 1.3's default; :func:`reference_estimates`)."""
    all_pixels = estimate_model(encoder, parallelization_factor=None, part=part)
    return compare_blocks(study_table_3_5(part), {ALL_PIXELS: all_pixels, ONE_PIXEL: one_pixel},
                          part=part)


def conv_shape(model, name: str) -> tuple[int, int, int, int]:
    """``(h_in, w_in, d_in, d_out)`` of a convolution of ``model``, as eq. 3.14 reads it."""
    layer = model.get_layer(name)
    h, w, d_in = (int(d) for d in layer.input_shape[1:])
    return h, w, d_in, int(layer.filters)


@dataclass(frozen=True)
class Eq314:
    """The study's eq. 3.14 redone with our layers' shapes."""

    factor: float  # rho
    target: tuple[int, int, int, int]  # our conv2_b0_0 convolution, (h_in, w_in, d_in, d_out)
    reference: tuple[int, int, int, int]  # our conv2_b1_1 convolution
    printed: tuple[tuple[int, ...], tuple[int, ...]]  # the two shapes as Table 3.5 prints them
    scaled: dict[str, float]  # the study's conv2_b1_1 row times rho, with <resource>_% entries
    table: pd.DataFrame  # the study's two rows, the scaled row, and our ratio of the blocks

    def glue_values(self) -> dict[str, Any]:
        """The numbers chapter 6's prose cites, by glue name, rounded as it prints them."""
        small = EQ314_BLOCKS[1]
        return {"rho": f"{self.factor:g}", "study_lut_pct": round(float(self.scaled["LUT_%"])),
                "study_printed_d_out": f"{self.printed[0][3]} and {self.printed[1][3]}",
                "our_d_out": f"{self.target[3]} and {self.reference[3]}",
                "study_b11_dsp": f"{self.table.loc['DSP', f'study, {small}']:,}",
                "study_b11_lut": f"{self.table.loc['LUT', f'study, {small}']:,}"}


def eq314(encoder, comparison: pd.DataFrame, part: str = U250_PART) -> Eq314:
    """Scale the study's smaller block by eq. 3.14 (:func:`linear_scaling`) with the shapes of
    our ``encoder``'s convolutions, beside the ratio of our two blocks in ``comparison``
    (:func:`block_comparison`, all pixels per pass)."""
    big, small = EQ314_BLOCKS
    target, reference = conv_shape(encoder, BLOCKS[big][0]), conv_shape(encoder, BLOCKS[small][0])
    study = study_table_3_5(part)
    resources = list(RESOURCES)
    factor = eq314_factor(target, reference)
    scaled = linear_scaling(study.loc[small, resources].to_dict(), target, reference, part=part)
    ours = comparison.xs(ALL_PIXELS, level="source")
    table = pd.DataFrame({
        f"study, {small}": study.loc[small, resources],
        f"times rho = {factor:g}": pd.Series({k: scaled[k] for k in resources}),
        f"study, {big}": study.loc[big, resources],
        "% of U250": pd.Series({k: scaled[f"{k}_%"] for k in resources}),
        "ours: ratio of the two blocks": ours.loc[big, resources] / ours.loc[small, resources],
    })
    return Eq314(factor, target, reference, (study.loc[big, "shape"], study.loc[small, "shape"]),
                 scaled, table)


def reference_estimates(models: Mapping[str, Any], part: str = U250_PART,
                        clock_period: float = CLOCK_NS) -> dict[str, pd.DataFrame]:
    """Per-layer estimate of every model as the reference project builds it: reuse factor 1,
    Latency, io_parallel, one output pixel per pass (hls4ml 1.3's default)."""
    return {name: estimate_model(model, parallelization_factor=1, part=part,
                                 clock_period=clock_period) for name, model in models.items()}


def layer_table(estimate: pd.DataFrame, other: tuple[str, str] = ("xcvu13p", "VU13P")) -> pd.DataFrame:
    """:data:`LAYER_COLUMNS` of an estimate plus the DSP and LUT shares of a second part
    (``(part, label)``)."""
    capacity = device_capacity(other[0])
    table = estimate[LAYER_COLUMNS].copy()
    for key in ("DSP", "LUT"):
        table[f"{key}_% {other[1]}"] = 100 * table[key] / capacity[key]
    return table


def scan_models(models: Mapping[str, Any], grid=SCAN_GRID, part: str = U250_PART,
                clock_period: float = CLOCK_NS) -> dict[str, pd.DataFrame]:
    """:func:`src.fpga.search.scan` of every model over ``grid``."""
    return {name: scan(model, grid, part=part, clock_period=clock_period)
            for name, model in models.items()}


def hits(scans: Mapping[str, pd.DataFrame], targets: Targets = TARGETS) -> dict[str, int]:
    """Settings of each scan within the latency target and the resource budget."""
    counts = {}
    for name, table in scans.items():
        inside = table["latency_ns"] <= targets.latency_ns
        for key, pct in targets.budget.items():
            inside &= table[f"{key}_%"] <= pct
        counts[name] = int(inside.sum())
    return counts


def tune_models(models: Mapping[str, Any], budgets: Mapping[str, Mapping[str, float]] = BUDGETS,
                part: str = U250_PART, clock_period: float = CLOCK_NS,
                **options: Any) -> dict[tuple[str, str], Tuned]:
    """:func:`src.fpga.search.tune` of every model under every budget, keyed ``(model,
    budget)``; None where even the cheapest settings exceed the budget."""
    tuned: dict[tuple[str, str], Tuned] = {}
    for name, model in models.items():
        for budget_name, budget in budgets.items():
            try:
                tuned[name, budget_name] = tune(model, budget, part=part,
                                                clock_period=clock_period, **options)
            except ValueError:
                tuned[name, budget_name] = None
    return tuned


def tuned_summary(tuned: Mapping[tuple[str, str], Tuned],
                  clock_period: float = CLOCK_NS) -> pd.DataFrame:
    """Totals of :func:`tune_models`' designs: whether one fits, the resources [% of the
    part], the latency and the initiation interval [ns]; index ``(model, budget)``."""
    summary = {}
    for key, choice in tuned.items():
        if choice is None:
            summary[key] = {"fits": False}
            continue
        row = choice[1].loc["total"]
        summary[key] = {"fits": True, **{f"{k} %": row[f"{k}_%"] for k in RESOURCES},
                        "latency [ns]": row["latency_ns"],
                        "II [ns]": row["II_cycles"] * clock_period}
    return pd.DataFrame.from_dict(summary, orient="index").rename_axis(["model", "budget"])


def products_in_luts(model, tuned_table: pd.DataFrame, budget: Mapping[str, float] = TARGETS.budget,
                     lut_bits: int = 16, part: str = U250_PART,
                     clock_period: float = CLOCK_NS) -> tuple[pd.DataFrame, float]:
    """The search repeated with every product of operands up to ``lut_bits`` wide in LUTs
    (as the study's Vivado placed its 16-bit products). Returns the totals of both designs
    (rows: ``tuned_table``'s and the LUT-only one) and the LUT-only latency [ns]."""
    _, lut_only = tune(model, budget, part=part, clock_period=clock_period,
                       dsp_threshold_bits=lut_bits)
    columns = LAYER_COLUMNS[3:]
    table = pd.DataFrame({"products in DSPs (our rule)": tuned_table.loc["total", columns],
                          "products in LUTs": lut_only.loc["total", columns]}).T
    return table, float(lut_only.loc["total", "latency_ns"])


def _design(design: Mapping[str, Any]) -> tuple[float, float, float]:
    return float(design["latency_ns"]), float(design["LUT_%"]), float(design["DSP_%"])


def meets_targets(design: Mapping[str, Any], auc_gap: float, targets: Targets = TARGETS) -> bool:
    """Whether a design (a ``total`` row of an estimate) and its emulated AUC gap meet the
    latency, resource and accuracy targets (not the stretch latency)."""
    latency = float(design["latency_ns"])
    return (latency <= targets.latency_ns and abs(auc_gap) <= targets.auc_gap
            and all(float(design[f"{k}_%"]) <= targets.resource_pct for k in targets.resources))


def verdict_table(design: Mapping[str, Any], emu_auc: float, qkeras_auc: float,
                  targets: Targets = TARGETS, clock_period: float = CLOCK_NS) -> pd.DataFrame:
    """Target, the student's value and ``met`` (yes / no) per requirement, from a design's
    ``total`` estimate row and the emulated and QKeras AUCs."""
    latency, lut, dsp = _design(design)
    gap = emu_auc - qkeras_auc
    latency_text = f"{latency:.0f} ns"
    pct = targets.resource_pct
    rows = {
        f"estimated latency at {1000 / clock_period:.0f} MHz": (
            f"<= {targets.latency_ns / 1000:g} µs", latency_text, latency <= targets.latency_ns),
        "estimated latency, stretch goal": (f"< {targets.stretch_latency_ns:g} ns", latency_text,
                                            latency < targets.stretch_latency_ns),
        "estimated LUTs, % of U250": (f"<= {pct:g}%", f"{lut:.1f}%", lut <= pct),
        "estimated DSPs, % of U250": (f"<= {pct:g}%", f"{dsp:.1f}%", dsp <= pct),
        "emulated AUC minus QKeras AUC": (f"within {targets.auc_gap:g}",
                                          f"{gap:+.4f}" if round(gap, 4) else f"{0:.4f}",
                                          abs(gap) <= targets.auc_gap),
    }
    verdict = pd.DataFrame.from_dict(rows, orient="index", columns=["target", "student", "met"])
    verdict["met"] = verdict["met"].map({True: "yes", False: "no"})
    return verdict


def verdict_text(tuned: Mapping[tuple[str, str], Tuned], design: Mapping[str, Any],
                 auc_gap: float, student_mults: int, targets: Targets = TARGETS,
                 part: str = U250_PART, clock_period: float = CLOCK_NS) -> str:
    """The verdict in words, every number from the arguments: the study's largest block
    (Table 3.5), the reduced encoder's designs under the whole device and under the trigger
    budget (``tuned``, :func:`tune_models`), and the student's ``design`` (a ``total`` row),
    emulated AUC gap and multiplications per jet."""
    study_lut = study_table_3_5(part).loc[EQ314_BLOCKS[0], "LUT_%"]
    best = tuned["reduced encoder", WHOLE_DEVICE]
    small = tuned["reduced encoder", targets.budget_name]
    share = f"{targets.resource_pct:g}% of the {' and '.join(f'{k}s' for k in targets.resources)}"
    if best is not None:
        row = best[1].loc["total"]
        reduced = (f"Our reduced encoder fits one U250 only when the per-layer search may use "
                   f"the whole device: {row['DSP_%']:.0f}% of the DSPs and {row['LUT_%']:.0f}% "
                   f"of the LUTs (estimated) for a latency of {row['latency_ns'] / 1000:.1f} µs "
                   f"and a new image every {row['II_cycles'] * clock_period:.0f} ns")
    else:
        reduced = "Our reduced encoder does not fit one U250 under any setting we estimated"
    if small is not None:
        reduced += (f"; within {share} its latency grows to "
                    f"{small[1].loc['total', 'latency_ns'] / 1000:.0f} µs.")
    else:
        reduced += f"; it cannot be squeezed into {share} at all."
    latency, lut, dsp = _design(design)
    shares = f"{lut:.1f}% of the LUTs and {dsp:.1f}% of the DSPs"
    gap = f"an emulated AUC {abs(auc_gap):.4f} from its QKeras twin's"
    if meets_targets(design, auc_gap, targets):
        student = (f"The student meets the targets: an estimated {latency:.0f} ns at "
                   f"{1000 / clock_period:.0f} MHz with {shares}, and {gap}")
    else:
        student = (f"The student misses at least one target (table above): an estimated "
                   f"{latency:.0f} ns with {shares}, {gap}")
    if latency >= targets.stretch_latency_ns:
        cycles = targets.stretch_latency_ns / clock_period
        dsps = targets.resource_pct / 100 * device_capacity(part)["DSP"]
        student += (f". It does not reach the stricter {targets.stretch_latency_ns:g} ns, "
                    f"{cycles:.0f} clock cycles: its {student_mults:,} multiplications per jet "
                    f"would keep {student_mults / cycles:,.0f} multipliers busy in every one of "
                    f"them, against {dsps:,.0f} DSPs in {targets.resource_pct:g}% of the device, "
                    "before the adder trees, activations and pooling of its layers add their "
                    "own cycles.")
    else:
        student += "."
    return (f"The study's encoder did not fit: one block of it alone was estimated at "
            f"{study_lut:.0f}% of the U250's LUTs. {reduced} That is not a Level-1 trigger "
            f"algorithm, which gets about {targets.latency_ns / 1000:g} µs and a few percent of "
            f"an FPGA. {student}")
