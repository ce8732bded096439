"""Benchmarks behind ``make bench``: each topic measures in one run, the runner writes reports."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from ..config import PROFILES
from ..files import atomic_file
from ..models.spec import ModelSpec
from .emulation import emulation_throughput, reduced_throughput
from .generation import generation_rate
from .training import training_throughput


def run(out_dir: Path, n_jets: int = 2000) -> dict:
    """Run every benchmark, write ``results.json`` and ``results.md`` into ``out_dir``."""
    report: dict = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": _cpus(), "load_average": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "generation": [],
        "training": [],
    }
    for process in ("qcd", "top"):
        print(f"[bench] generation: {n_jets} {process} jets in one process ...", flush=True)
        report["generation"].append(generation_rate(process, n_jets))
    for name, n_images in (("default", 1024), ("paper", 256)):
        print(f"[bench] training: {name} JointVAE, {n_images} images ...", flush=True)
        row = training_throughput(ModelSpec(**PROFILES[name].model), n_images=n_images)
        report["training"].append({"model": name, **row})
    print("[bench] emulation: hls4ml C++ of the default student, 2000 images ...", flush=True)
    report["emulation"] = [emulation_throughput()]
    print("[bench] emulation: the reduced encoder, NumPy fixed point and hls4ml C++ ...",
          flush=True)
    report["emulation"] += reduced_throughput()
    out_dir = Path(out_dir)
    with atomic_file(out_dir / "results.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    with atomic_file(out_dir / "results.md") as tmp:
        tmp.write_text(markdown(report))
    print(markdown(report))
    return report


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def markdown(report: dict) -> str:
    """The benchmark report as a small markdown document."""
    lines = [f"# Benchmarks ({report['date']}, {report['machine']['cpus']} CPUs, "
             f"Python {report['machine']['python']}, load average "
             f"{report['machine'].get('load_average', float('nan')):.1f} at the start)", "",
             "Ratios are measured within one run; other processes share the cores when the "
             "load average exceeds the number of CPUs.", "",
             "## Event generation (one process)", "",
             "| process | jets | events | acceptance | jets/s | inside Pythia | our code |",
             "|---|---|---|---|---|---|---|"]
    for row in report["generation"]:
        lines.append(f"| {row['process']} | {row['jets']} | {row['events']} | "
                     f"{row['acceptance']:.2f} | {row['jets_per_s']:.0f} | "
                     f"{100 * row['pythia_share']:.1f}% | {100 * (1 - row['pythia_share']):.1f}% |")
    lines += ["", "## JointVAE training (forward, backward and AdamW update, batch 128)", "",
              "| model | parameters | forward MACs / image | images/s | achieved GFLOP/s | "
              "matmul GFLOP/s | achieved / attainable |", "|---|---|---|---|---|---|---|"]
    for row in report.get("training", []):
        params = sum(row["parameters"].values())
        lines.append(f"| {row['model']} | {params:,} | {row['forward_macs'] / 1e6:.1f} M | "
                     f"{row['images_per_s']:.0f} | {row['achieved_gflops']:.1f} | "
                     f"{row['attainable_gflops']:.1f} | {100 * row['ratio']:.1f}% |")
    lines += ["", "## Bit-accurate firmware emulation (io_parallel)", "",
              "The reduced encoder is the study's network: its rows compare like with like "
              "(the student is a different, 3x smaller network).", "",
              "| model | parameters | workers | images | compile [s] | images/s | "
              "s per 50,000 | study's C-simulation / ours |", "|---|---|---|---|---|---|---|---|"]
    for row in report.get("emulation", []):
        lines.append(f"| {row['model']} | {row['parameters']:,} | {row['n_workers']} | "
                     f"{row['n_images']} | {row['compile_s']:.0f} | {row['images_per_s']:.0f} | "
                     f"{row['seconds_per_50k']:.0f} | {row['speedup_vs_study']:,.0f} |")
    return "\n".join(lines) + "\n"
