"""The benchmark report: every measured row reaches the markdown, with derived ratios."""

from __future__ import annotations

import pytest

from src.bench import markdown
from src.bench.emulation import reduced_throughput
from src.study import CSIM


def test_markdown_lists_every_measurement():
    report = {
        "date": "2026-01-01 00:00",
        "machine": {"platform": "x", "python": "3.11", "cpus": 2, "load_average": 0.5},
        "generation": [{"process": "qcd", "jets": 100, "events": 160, "acceptance": 0.625,
                        "jets_per_s": 50.0, "pythia_share": 0.8}],
        "training": [{"model": "default", "parameters": {"encoder": 1000, "decoder": 500},
                      "forward_macs": 2_000_000, "images_per_s": 100.0,
                      "achieved_gflops": 1.2, "attainable_gflops": 10.0, "ratio": 0.12}],
        "emulation": [{"model": "student", "parameters": 3569, "n_workers": 2, "n_images": 2000,
                       "compile_s": 40.2, "images_per_s": 500.0, "seconds_per_50k": 100.0,
                       "speedup_vs_study": 1147.8}],
    }
    text = markdown(report)
    assert "| qcd | 100 | 160 | 0.62 | 50 | 80.0% | 20.0% |" in text
    assert "| default | 1,500 | 2.0 M | 100 | 1.2 | 10.0 | 12.0% |" in text
    assert "load average 0.5" in text
    assert "| student | 3,569 | 2 | 2000 | 40 | 500 | 100 | 1,148 |" in text


def test_the_reduced_encoder_is_timed_like_for_like():
    rows = reduced_throughput(n_images=16, cpp_images=4)
    numpy_row = rows[0]
    assert numpy_row["model"] == "reduced encoder, NumPy fixed point (profiled types)"
    assert numpy_row["parameters"] == 10_674 and numpy_row["n_images"] == 16
    assert numpy_row["images_per_s"] > 0
    assert numpy_row["speedup_vs_study"] == pytest.approx(
        CSIM.values["seconds"] * numpy_row["images_per_s"] / CSIM.values["images"])
    assert all(row["model"].startswith("reduced encoder") for row in rows)
