"""What chapter 8 shows of the trigger student: the verdict per Level-1 target under the
synthesized design and the estimator's two multiplier mappings, the estimator's error against
the synthesis, and where the numbers come from (:mod:`src.fpga.synth` measures them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..config import Profile, models_dir
from .devices import CLOCK_NS, U250_PART, device_capacity
from .estimate import estimate_model
from .synth import REPORT_FILE, SYNTH_DIR, TARGETS, TRIGGER_MODEL, tool_versions

#: Glue names of :func:`glue_values` (chapter 8 fills them in when nothing was measured).
GLUE_NAMES = ("trig_params", "trig_products", "trig_auc", "trig_teacher_auc", "trig_ratio",
              "trig_lut", "trig_lut_pct", "trig_ff", "trig_carry", "trig_dsp",
              "trig_latency_cycles", "trig_latency_ns", "trig_path_ns", "trig_fmax",
              "trig_lut_levels", "trig_sim_jets", "trig_sim_mismatches", "trig_est_lut",
              "trig_est_lut_ratio", "yosys_version", "trig_measured_here")


def placeholders() -> dict[str, Any]:
    """Glue values for :data:`GLUE_NAMES` when nothing was measured, of the types
    :func:`glue_values` gives (text, or NaN for numbers), so every formatted citation renders."""
    text = {"trig_params", "trig_lut", "trig_ff", "trig_carry", "trig_est_lut", "yosys_version"}
    return {name: "(not measured)" if name in text else float("nan") for name in GLUE_NAMES}


def can_report(profile: Profile, name: str = TRIGGER_MODEL) -> bool:
    """Whether :func:`trigger_report` can run for the student ``name``: Yosys and Verilator
    are installed, or the profile's report is committed."""
    report = models_dir(profile) / name / SYNTH_DIR / REPORT_FILE
    return None not in tool_versions().values() or report.is_file()


def missing_text(profile: Profile) -> str:
    """Why nothing was synthesized."""
    return (f"Neither Yosys and Verilator (`apt-get install yosys verilator`) nor a committed "
            f"report for the {profile.name} profile are on this machine: nothing is measured.")


def source_text(report: dict[str, Any]) -> str:
    """Where the report's numbers come from."""
    ys = report["yosys"]["version"]
    if report.get("measured_here"):
        return f"Synthesized and simulated on this machine ({ys})."
    return (f"Read from the committed report ({ys}): this machine lacks the tools, or the RTL "
            "is unchanged since it was measured.")


def estimates(model) -> dict[str, pd.DataFrame]:
    """:func:`src.fpga.estimate.estimate_model` of the trigger student (any weights: the
    estimate reads only the architecture) with its products in LUTs (the default 10-bit DSP
    threshold) and in DSPs (threshold 0)."""
    return {"estimator, LUT products": estimate_model(model),
            "estimator, DSP products": estimate_model(model, dsp_threshold_bits=0)}


def verdict(report: dict[str, Any], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each Level-1 target (:data:`TARGETS`, and the 5 ns clock where a critical path is
    known) under the synthesized design and under the estimator's two mappings: one column
    per design, the values and one ``<target> ok`` row per target."""
    capacity, ys = device_capacity(U250_PART), report["yosys"]
    columns = {"Yosys synthesis (LUT adders)": {
        "latency_ns": report["rtl"]["latency_cycles"] * CLOCK_NS,
        "ii_cycles": report["rtl"]["ii_cycles"], "LUT_%": 100 * ys["LUT"] / capacity["LUT"],
        "DSP_%": 100 * ys["DSP48E2"] / capacity["DSP"], "clock_ns": ys["critical_path"]["ns"]}}
    for label, table in tables.items():
        total = table.loc["total"]
        columns[label] = {"latency_ns": float(total["latency_ns"]),
                          "ii_cycles": int(total["II_cycles"]), "LUT_%": float(total["LUT_%"]),
                          "DSP_%": float(total["DSP_%"]), "clock_ns": None}
    limits = {**TARGETS, "clock_ns": CLOCK_NS}
    for values in columns.values():
        values["auc_ratio"] = report["auc"]["ratio"]
        values.update({f"{k} ok": None if values[k] is None else
                       values[k] >= limit if k == "auc_ratio" else values[k] <= limit
                       for k, limit in limits.items()})
    return pd.DataFrame(columns)


def glue_values(report: dict[str, Any], tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The numbers a chapter cites, by glue name, rounded as it would print them."""
    ys, auc, lut = report["yosys"], report["auc"], tables["estimator, LUT products"]
    return {
        "trig_params": f"{report['model']['params']:,}", "trig_products": report["model"]["products"],
        "trig_auc": round(auc["student_firmware"], 3), "trig_teacher_auc": round(auc["teacher"], 3),
        "trig_ratio": round(auc["ratio"], 3), "trig_lut": f"{ys['LUT']:,}",
        "trig_lut_pct": round(100 * ys["LUT"] / device_capacity(U250_PART)["LUT"], 2),
        "trig_ff": f"{ys['FF']:,}", "trig_carry": f"{ys['CARRY']:,}", "trig_dsp": ys["DSP48E2"],
        "trig_latency_cycles": report["rtl"]["latency_cycles"],
        "trig_latency_ns": report["rtl"]["latency_cycles"] * CLOCK_NS,
        "trig_path_ns": ys["critical_path"]["ns"], "trig_fmax": ys["critical_path"]["fmax_mhz"],
        "trig_lut_levels": ys["critical_path"]["max_lut_levels"],
        "trig_sim_jets": report["verilator"]["jets"],
        "trig_sim_mismatches": report["verilator"]["mismatches"],
        "trig_est_lut": f"{int(lut.loc['total', 'LUT']):,}",
        "trig_est_lut_ratio": round(float(lut.loc["total", "LUT"]) / ys["LUT"], 2),
        "yosys_version": ys["version"], "trig_measured_here": report.get("measured_here", False),
    }


def estimator_error(report: dict[str, Any], table: pd.DataFrame) -> pd.DataFrame:
    """Estimated against synthesized LUT, FF and DSP counts and latency: ratio estimate/Yosys."""
    total, ys = table.loc["total"], report["yosys"]
    rows = {"LUT": (total["LUT"], ys["LUT"]), "FF": (total["FF"], ys["FF"]),
            "DSP": (total["DSP"], ys["DSP48E2"]),
            "latency [cycles]": (total["latency_cycles"], report["rtl"]["latency_cycles"])}
    frame = pd.DataFrame(rows, index=["estimate", "Yosys / RTL"]).T
    frame["estimate / Yosys"] = frame["estimate"] / frame["Yosys / RTL"].replace(0, np.nan)
    return frame


#: Row labels of :func:`readable_verdict`, by target key.
TARGET_LABELS = {"latency_ns": "latency [ns], at most {:g}", "ii_cycles": "new jet every N clocks, "
                 "at most {:g}", "LUT_%": "LUTs [% of the U250], at most {:g}",
                 "DSP_%": "DSPs [% of the U250], at most {:g}",
                 "auc_ratio": "AUC / teacher's AUC, at least {:g}",
                 "clock_ns": "clock path [ns], at most {:g}"}


def readable_verdict(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`verdict` as the book shows it: one row per target (its limit in the label), each
    cell the value and a tick or a cross, empty where a design gives no value."""
    limits = {**TARGETS, "clock_ns": CLOCK_NS}
    rows = {}
    for key, label in TARGET_LABELS.items():
        rows[label.format(limits[key])] = {
            column: "" if table.loc[key, column] is None or pd.isna(table.loc[key, column])
            else f"{float(table.loc[key, column]):.4g} {'✓' if table.loc[f'{key} ok', column] else '✗'}"
            for column in table.columns}
    return pd.DataFrame(rows).T


def student_comparison(reports: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The trigger students side by side, one column per report of
    :func:`src.fpga.synth.trigger_report`: the firmware's AUC and its ratio to the teacher's,
    the synthesized resources and latency, and the RTL simulation's mismatches (as text)."""
    capacity = device_capacity(U250_PART)
    columns = {}
    for label, report in reports.items():
        ys, auc = report["yosys"], report["auc"]
        columns[label] = {
            "parameters": f"{report['model']['params']:,}",
            "AUC top vs QCD (firmware)": f"{auc['student_firmware']:.4f}",
            "fraction of the teacher's AUC": f"{auc['ratio']:.3f}",
            "LUT (% of the U250)": f"{ys['LUT']:,} ({100 * ys['LUT'] / capacity['LUT']:.2f}%)",
            "FF": f"{ys['FF']:,}", "DSP": f"{ys['DSP48E2']:,}",
            "latency [ns]": f"{report['rtl']['latency_cycles'] * CLOCK_NS:.0f}",
            "Verilator mismatches": f"{report['verilator']['mismatches']} of "
                                    f"{report['verilator']['jets']:,} jets"}
    return pd.DataFrame(columns)
