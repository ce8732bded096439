"""Smoke regeneration: every chapter runs headless with the smoke profile and the book builds.

Run by `make test` after the unit tests (`pytest -m smoke`).
"""

import json

import pytest

from src.book import build, chapters
from src.config import BUILD_DIR

pytestmark = pytest.mark.smoke


def _glued(notebook) -> dict:
    """Values a notebook recorded with myst_nb.glue, by name."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                values[record["name"]] = output["data"][record["mime_prefix"] + "text/plain"]
    return values


def test_every_chapter_regenerates_and_the_book_builds():
    index = build("smoke")
    assert index.exists() and index.stat().st_size > 0
    for name in chapters():
        notebook = json.loads((BUILD_DIR / "smoke" / "book" / f"{name}.ipynb").read_text())
        errors = [o for c in notebook["cells"] for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, name
        assert (BUILD_DIR / "smoke" / "_build" / "html" / "book" / f"{name}.html").exists()
    glued = {name: _glued(json.loads((BUILD_DIR / "smoke" / "book" / f"{name}.ipynb")
                                     .read_text())) for name in chapters()}
    data = glued["01_data"]
    assert 0.5 < float(data["mass_auc_top"]) <= 1.0
    assert 150 <= float(data["top_mass_peak"]) <= 200
    training = glued["02_training"]
    assert int(training["epochs_run"]) == 2 and float(training["train_minutes"]) > 0
    assert int(training["n_train"]) > 0 and 0 < float(training["recon_spread"])
    latent = glued["03_latent_space"]
    assert 0 <= float(latent["probe_cont"]) <= 1 and -1 <= float(latent["corr_mass"]) <= 1
    scores = glued["04_anomaly_scores"]
    for key in ("auc_kl_total", "best_latent_auc", "cnn_auc", "w_auc_kl_total",
                "inv_auc_kl_total"):
        assert 0 <= float(scores[key]) <= 1, key
    assert float(scores["best_latent_auc"]) >= float(scores["auc_kl_total"])
    compression = glued["05_quantization"]
    for key in ("q_auc_float", "q_auc_quant", "student_auc", "teacher_auc"):
        assert 0 <= float(compression[key]) <= 1, key
    assert 0 < int(compression["student_params"]) <= 5000
    fpga = glued["06_fpga_feasibility"]
    assert abs(float(fpga["emu_auc"]) - float(fpga["qkeras_auc"])) < 0.01
    assert float(fpga["student_latency_ns"]) > 0 and float(fpga["emu_images_per_s"]) > 0
