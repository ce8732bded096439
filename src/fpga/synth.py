"""The Level-1 trigger students, their RTL simulated with Verilator and synthesized with Yosys.

:func:`trigger_student` distils chapter 7's recommended detector into :data:`TRIGGER_SPEC`
(4x4 average pooling to 10x10, one 8-unit ``QDense`` layer, 8-bit weights and activations).
:func:`window_student` is the same network on :data:`WINDOW_SPEC`'s inputs: the window images
of the jet finder's axis (:func:`src.data.preprocess.window_images`), without the per-jet
centring, rotation, flip and normalization, which then need no firmware.
:func:`trigger_report` converts one of them with hls4ml (:data:`TRIGGER_SETTINGS`), writes its
RTL (:mod:`src.fpga.rtl`), checks the NumPy fixed-point emulation
(:class:`~src.fpga.fixedpoint.FirmwareModel`, report key ``emulation.integer_mismatches``) and
a Verilator simulation of the RTL against hls4ml's C++ emulation, synthesizes it with
``yosys synth_xilinx -family xcup`` and stores the numbers in
``models/<profile>/<name>/synth/report.json``. Without Yosys or Verilator the committed report
is read instead (its ``measured_here`` is then false).

Clock estimate: the longest register-to-register path of the netlist, each cell on it costing
:data:`DELAYS` (an assumed UltraScale+ -2 model: a LUT with its net ~0.5 ns, a carry cell or
MUXF ~0.1 ns) plus :data:`REGISTER_NS` for clock-to-out, setup and the first net. No placement, no
routing: an estimate, not Vivado's timing analysis.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.anomaly import RECOMMENDED_SCORE, ship_score
from ..analysis.independence import stacked_auc
from ..analysis.scan import FIT_JETS
from ..compress.distill import STUDENT_GOAL, student, student_inputs
from ..compress.recommended import QCD_MODEL, study_kl
from ..config import Profile, models_dir
from ..data.splits import split_images
from ..files import atomic_file
from ..models.registry import trained
from ..models.spec import StudentSpec
from ..models.store import SCORE_FILE
from ..models.student import student_scores
from .convert import BOOK_SETTINGS, REFERENCE_IMPLEMENTATION, ensure_project, project_dir, quiet
from .emulate import emulate
from .firmware import balanced_subset
from .fixedpoint import FirmwareModel
from .rtl import Rtl, network_from_hls, verilog

#: Store name of the trigger student (``models/<profile>/trigger_student``).
TRIGGER_MODEL = "trigger_student"
#: Its architecture: no convolution, 10x10 pooled input, 8 hidden units, 8-bit quantizers.
TRIGGER_SPEC = StudentSpec(filters=(), input_pool=4, dense=8, bits=8, integer_bits=2)
#: Store name of the trigger student of window images (``models/<profile>/<name>``).
WINDOW_MODEL = "trigger_student_window"
#: The same network, on window images instead of preprocessed ones.
WINDOW_SPEC = dataclasses.replace(TRIGGER_SPEC, inputs="window")
#: Architecture of each trigger student, by store name.
TRIGGER_SPECS = {TRIGGER_MODEL: TRIGGER_SPEC, WINDOW_MODEL: WINDOW_SPEC}
#: hls4ml conversion settings (those of the book's student: ``ap_ufixed<16,0>`` pixels).
TRIGGER_SETTINGS: dict[str, Any] = {"io_type": "io_parallel", **REFERENCE_IMPLEMENTATION,
                                    **BOOK_SETTINGS["student"]}
#: Level-1 trigger targets on the Alveo U250 at 200 MHz.
TARGETS = {"latency_ns": 200.0, "ii_cycles": 5, "LUT_%": 5.0, "DSP_%": 5.0,
           "auc_ratio": STUDENT_GOAL}
#: Adder levels between two pipeline registers of the RTL.
LEVELS_PER_STAGE = 2
#: Jets (half QCD, half top) simulated by Verilator.
SIM_JETS = 500
#: Assumed delays [ns] of the cells on a register-to-register path, and per path.
DELAYS = {"LUT": 0.5, "INV": 0.5, "CARRY": 0.1, "MUXF": 0.1}
REGISTER_NS = 0.6
SYNTH_DIR, REPORT_FILE = "synth", "report.json"
YOSYS_SCRIPT = "synth_xilinx -family xcup -flatten -noiopad -top {top}"


def trigger_student(profile: Profile, verbose: int = 0, name: str = TRIGGER_MODEL):
    """The trigger student ``name`` (of :data:`TRIGGER_SPECS`) of chapter 7's recommended model
    (fitting the teacher's score rule first where the profile has none yet, as
    :func:`src.compress.recommended.shipped` does)."""
    directory = models_dir(profile)
    if not (directory / QCD_MODEL / SCORE_FILE).is_file():
        ship_score(trained(profile, QCD_MODEL, verbose), directory / QCD_MODEL,
                   split_images(profile, "qcd", "train")[:FIT_JETS], seed=profile.seed)
    return student(profile, verbose, teacher_name=QCD_MODEL, name=name,
                   spec=TRIGGER_SPECS[name])


def window_student(profile: Profile, verbose: int = 0):
    """The trigger student of window images (:data:`WINDOW_SPEC`), ``models/<profile>/``
    :data:`WINDOW_MODEL`."""
    return trigger_student(profile, verbose, WINDOW_MODEL)


def tool_versions() -> dict[str, str | None]:
    """``yosys -V`` and ``verilator --version``, None for a tool that is absent."""
    versions = {}
    for tool, flag in (("yosys", "-V"), ("verilator", "--version")):
        path = shutil.which(tool)
        versions[tool] = (subprocess.run([path, flag], capture_output=True, text=True, check=True)
                          .stdout.strip() if path else None)
    return versions


def input_codes(images: np.ndarray, bits_frac: int) -> np.ndarray:
    """Images in [0, 1) as the input codes hls4ml's bridge makes of them (truncation)."""
    return np.floor(np.asarray(images, np.float64).reshape(len(images), -1)
                    * 2.0 ** bits_frac).astype(np.int64)


_BENCH = """#include <cstdint>
#include <cstdio>
#include "V{top}.h"
#include "verilated.h"
int main(int argc, char** argv) {{
  Verilated::commandArgs(argc, argv);
  V{top} top;
  FILE* in = std::fopen(argv[1], "r");
  FILE* out = std::fopen(argv[2], "w");
  uint32_t w[{words}];
  bool more = true;
  long pending = 0;
  top.clk = 0; top.in_valid = 0; top.eval();
  while (more || pending > 0) {{
    for (int k = 0; more && k < {words}; ++k) more = std::fscanf(in, "%x", &w[k]) == 1;
    top.in_valid = more;
    if (more) {{ {assign} ++pending; }}
    top.clk = 1; top.eval();
    if (top.out_valid) {{
      int64_t y = (int64_t)((uint64_t)top.y << {pad}) >> {pad};
      std::fprintf(out, "%lld\\n", (long long)y); --pending;
    }}
    top.clk = 0; top.eval();
  }}
  std::fclose(out);
  return 0;
}}
"""


def simulate(design: Rtl, codes: np.ndarray, workdir: Path) -> np.ndarray:
    """Output codes of the RTL for input codes ``(N, n_inputs)``, one jet per clock (II = 1),
    from a Verilator build in ``workdir``."""
    bits, n = design.input_bits, design.n_inputs
    words = -(-bits * n // 32)
    assign = (" ".join(f"top.x[{k}] = w[{k}];" for k in range(words)) if bits * n > 64
              else "top.x = ((uint64_t)w[1] << 32) | w[0];" if words == 2 else "top.x = w[0];")
    y_bits = design.output.width + (0 if design.output.signed else 1)
    (workdir / f"{design.module}.v").write_text(design.source)
    (workdir / "bench.cpp").write_text(_BENCH.format(top=design.module, words=words,
                                                     assign=assign, pad=64 - y_bits))
    lines, mask = [], (1 << bits) - 1  # two's complement fields for signed inputs
    for row in np.asarray(codes, np.int64):
        value = sum((int(c) & mask) << (i * bits) for i, c in enumerate(row))
        lines.append(" ".join(f"{(value >> (32 * k)) & 0xFFFFFFFF:x}" for k in range(words)))
    (workdir / "inputs.txt").write_text("\n".join(lines) + "\n")
    subprocess.run(["verilator", "--cc", "--exe", "--build", "-Wno-fatal", "-Wno-WIDTH",
                    "-O1", "-CFLAGS", "-O1", "--top-module", design.module, "-Mdir", "obj",
                    f"{design.module}.v", "bench.cpp"], cwd=workdir, check=True,
                   capture_output=True, text=True)
    subprocess.run([f"obj/V{design.module}", "inputs.txt", "outputs.txt"], cwd=workdir,
                   check=True, capture_output=True)
    return np.loadtxt(workdir / "outputs.txt", dtype=np.int64, ndmin=1)


def synthesize(design: Rtl, workdir: Path) -> dict[str, Any]:
    """``synth_xilinx -family xcup`` of the RTL: cell counts, LUT (with INV and SRL), FF,
    CARRY (Yosys 0.23 maps carries to CARRY4) and DSP48E2 totals, and :func:`critical_path`."""
    (workdir / f"{design.module}.v").write_text(design.source)
    command = YOSYS_SCRIPT.format(top=design.module)
    script = (f"read_verilog {design.module}.v\n{command}\ntee -o stat.txt stat\n"
              "write_json netlist.json\n")
    (workdir / "synth.ys").write_text(script)
    start = time.perf_counter()
    subprocess.run(["yosys", "-q", "-l", "yosys.log", "synth.ys"], cwd=workdir, check=True,
                   capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s*$",
                                                   (workdir / "stat.txt").read_text(), re.M)}
    return {"command": command, "seconds": round(seconds, 1), "cells": cells,
            "LUT": sum(v for k, v in cells.items() if re.fullmatch(r"LUT\d|INV|SRL\w+", k)),
            "FF": sum(v for k, v in cells.items() if re.fullmatch(r"FD[CPRS]E", k)),
            "CARRY": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
            "DSP48E2": cells.get("DSP48E2", 0),
            "critical_path": critical_path(json.loads((workdir / "netlist.json").read_text()),
                                           design.module)}


def _delay(cell_type: str) -> tuple[str, float] | None:
    """Kind and assumed delay of a combinational cell (None for registers, constants, I/O)."""
    for kind in DELAYS:
        if cell_type.startswith(kind):
            return kind, DELAYS[kind]
    return None


def critical_path(netlist: dict, top: str) -> dict[str, Any]:
    """The slowest register-to-register path of a Yosys JSON netlist under :data:`DELAYS`:
    its cells by kind, its delay with :data:`REGISTER_NS`, the clock it allows, and the most
    LUTs on any such path."""
    cells = netlist["modules"][top]["cells"]
    driver, inputs = {}, {}
    for name, cell in cells.items():
        ins = []
        for port, bits in cell["connections"].items():
            for bit in bits:
                if isinstance(bit, int):
                    if cell["port_directions"][port] == "output":
                        driver[bit] = name
                    else:
                        ins.append(bit)
        inputs[name] = ins
    comb = {name: _delay(cell["type"]) for name, cell in cells.items()}
    fanin = {name: {driver[b] for b in inputs[name] if driver.get(b) in comb and comb[driver[b]]}
             for name in cells if comb[name]}
    users = defaultdict(list)
    for name, sources in fanin.items():
        for s in sources:
            users[s].append(name)
    pending = {name: len(sources) for name, sources in fanin.items()}
    ready = [name for name, n in pending.items() if n == 0]
    best: dict[str, tuple[float, str | None]] = {}  # arrival delay, previous cell
    luts: dict[str, int] = {}
    while ready:
        name = ready.pop()
        kind, delay = comb[name]
        prev = max(fanin[name], key=lambda s: best[s][0], default=None)
        best[name] = (delay + (best[prev][0] if prev else 0.0), prev)
        luts[name] = (kind == "LUT") + max((luts[s] for s in fanin[name]), default=0)
        for user in users[name]:
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    end = max(best, key=lambda n: best[n][0])
    kinds: dict[str, int] = defaultdict(int)
    node: str | None = end
    while node is not None:
        kinds[comb[node][0]] += 1
        node = best[node][1]
    path_ns = best[end][0] + REGISTER_NS
    return {"cells": dict(kinds), "ns": round(path_ns, 2), "max_lut_levels": max(luts.values()),
            "fmax_mhz": round(1e3 / path_ns, 1), "delays_ns": DELAYS, "register_ns": REGISTER_NS}


def trigger_report(profile: Profile, verbose: int = 0, refresh: bool = False,
                   name: str = TRIGGER_MODEL) -> dict[str, Any]:
    """Train (or load) the trigger student ``name`` (of :data:`TRIGGER_SPECS`), write its RTL
    and measure it (see the module docstring); returns the report, measured now or read from
    the committed file."""
    model = trigger_student(profile, verbose, name)
    folder = models_dir(profile) / name
    with quiet():
        hls_model, _ = ensure_project(model, project_dir(folder), **TRIGGER_SETTINGS)
    network = network_from_hls(hls_model)
    design = verilog(network, levels_per_stage=LEVELS_PER_STAGE)
    target = folder / SYNTH_DIR / REPORT_FILE
    report = rtl_report(target, design, refresh, lambda versions: _measure(
        profile, name, model, hls_model, network, design, versions))
    if report is None:
        raise FileNotFoundError(f"{target}: no report of this RTL, and yosys or verilator "
                                "is missing (apt-get install yosys verilator)")
    return report


def rtl_report(target: Path, design: Rtl, refresh: bool,
               measure: Callable[[dict[str, str | None]], dict[str, Any]]) -> dict[str, Any] | None:
    """The measurement of ``design`` kept at ``target``, keyed by the sha256 of its source: the
    stored report while it is of this RTL (and not ``refresh`` with the tools at hand), else
    ``measure(tool_versions())`` run now and written there; None when Yosys or Verilator is
    missing and no report of this RTL is stored. ``measured_here`` says which."""
    digest = hashlib.sha256(design.source.encode()).hexdigest()
    versions = tool_versions()
    tools = None not in versions.values()
    old = json.loads(target.read_text()) if target.is_file() else None
    if old is not None and old["rtl"]["sha256"] == digest and not (refresh and tools):
        return {**old, "measured_here": False}
    if not tools:
        return None
    report = measure(versions)
    report["rtl"]["sha256"] = digest
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return {**report, "measured_here": True}


def _measure(profile: Profile, name: str, model, hls_model, network, design: Rtl,
             versions: dict[str, str | None]) -> dict[str, Any]:
    """The numbers of :func:`trigger_report`, measured now: the teacher on the preprocessed
    test images, the student on its own inputs of the same jets. ``emulation`` counts the jets
    where the NumPy fixed-point emulation differs from the C++ (``integer_mismatches``, a
    name kept from the RTL's own integer model it replaced); ``verilator`` the simulated jets
    where the RTL's output codes differ from the C++."""
    spec = TRIGGER_SPECS[name]
    test = {p: split_images(profile, p, "test") for p in ("qcd", "top")}
    images = np.concatenate([student_inputs(profile, spec, p, "test") for p in ("qcd", "top")])
    labels = np.r_[np.zeros(len(test["qcd"])), np.ones(len(test["top"]))]
    with quiet():
        emulated = emulate(hls_model, images[..., None], n_workers=profile.workers,
                           progress=False)[:, 0]
    numpy_emulated = FirmwareModel(hls_model).predict(images[..., None])[:, 0]
    codes = input_codes(images, network.input.fractional)
    scale = 2.0 ** network.output.fractional
    teacher = trained(profile, QCD_MODEL, verbose=0)
    teacher_auc = stacked_auc(*(study_kl(teacher, test[p]) for p in ("qcd", "top")))
    qkeras = student_scores(model, images)
    pick = balanced_subset(labels, SIM_JETS, profile.seed)
    with tempfile.TemporaryDirectory() as tmp:
        simulated = simulate(design, codes[pick], Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        synthesis = synthesize(design, Path(tmp))
    firmware_auc = stacked_auc(emulated[labels == 0], emulated[labels == 1])
    return {
        "model": {"name": name, "teacher": QCD_MODEL, "spec": dataclasses.asdict(spec),
                  "input_max": float(images.max()),
                  "params": int(model.count_params()), "products": network.multiplications,
                  "settings": {k: v for k, v in TRIGGER_SETTINGS.items() if k != "layer_config"}},
        "auc": {"teacher": teacher_auc, "teacher_score": RECOMMENDED_SCORE,
                "student_qkeras": stacked_auc(qkeras[labels == 0], qkeras[labels == 1]),
                "student_firmware": firmware_auc, "ratio": firmware_auc / teacher_auc,
                "jets": len(images)},
        "emulation": {"jets": len(images),
                      "integer_mismatches": int(np.sum(numpy_emulated != emulated))},
        "verilator": {"version": versions["verilator"], "jets": len(pick),
                      "mismatches": int(np.sum(simulated / scale != emulated[pick])),
                      "ii_cycles": 1},
        "rtl": {"latency_cycles": design.latency, "ii_cycles": 1, "adders": design.adders,
                "levels_per_stage": LEVELS_PER_STAGE, "lines": design.source.count("\n")},
        "yosys": {"version": versions["yosys"], **synthesis},
    }
