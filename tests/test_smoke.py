"""Smoke regeneration: every chapter runs headless with the smoke profile and the book builds.

Run by `make test` after the unit tests (`pytest -m smoke`). Each chapter is tested for what
it records: every value its prose cites is glued, numeric values are finite, and the
headline numbers lie in ranges that the smoke profile (tiny models, 2 epochs, few jets) can
really show.
"""

import json
import math
import re

import pytest

from src.book import build, chapters
from src.config import BUILD_DIR, NOTEBOOKS_DIR

pytestmark = pytest.mark.smoke

#: (chapter, glue name) -> (low, high): ranges a smoke run must land in.
RANGES = {
    ("01_data", "top_mass_peak"): (150, 200),  # GeV: the top mass is there even for 100 jets
    ("01_data", "mass_auc_top"): (0.8, 1.0),
    ("02_training", "epochs_run"): (2, 2),
    ("02_training", "recon_spread"): (0.0, math.inf),
    ("03_latent_space", "corr_mass"): (-1.0, 1.0),
    ("04_anomaly_scores", "auc_kl_total"): (0.5, 1.0),
    ("04_anomaly_scores", "cnn_auc"): (0.5, 1.0),
    ("04_anomaly_scores", "mass_auc"): (0.8, 1.0),
    ("05_quantization", "student_params"): (1, 5000),
    ("05_quantization", "q_auc_float"): (0.0, 1.0),
    ("06_fpga_feasibility", "student_latency_ns"): (1.0, math.inf),
    ("06_fpga_feasibility", "auc_diff"): (0.0, 0.01),  # emulated vs QKeras AUC of the student
}


def _glued(notebook) -> dict:
    """Values a notebook recorded with myst_nb.glue, by name (their text form)."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                values[record["name"]] = output["data"][record["mime_prefix"] + "text/plain"]
    return values


def _number(text: str) -> float | None:
    try:
        return float(str(text).strip("'\"").replace(",", ""))
    except ValueError:
        return None


def test_every_chapter_regenerates_and_the_book_builds():
    index = build("smoke")
    assert index.exists() and index.stat().st_size > 0
    for name in chapters():
        notebook = json.loads((BUILD_DIR / "smoke" / "book" / f"{name}.ipynb").read_text())
        errors = [o for c in notebook["cells"] for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, name
        assert (BUILD_DIR / "smoke" / "_build" / "html" / "book" / f"{name}.html").exists()
        glued = _glued(notebook)
        cited = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", (NOTEBOOKS_DIR / f"{name}.py")
                               .read_text()))
        assert not cited - set(glued), (name, sorted(cited - set(glued)))
        for key, text in glued.items():
            value = _number(text)
            assert value is None or math.isfinite(value), (name, key, text)
        for (chapter, key), (low, high) in RANGES.items():
            if chapter == name:
                value = _number(glued[key])
                assert value is not None and low <= value <= high, (name, key, glued[key])
