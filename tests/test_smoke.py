"""Smoke regeneration: every chapter runs headless with the smoke profile and the book builds.

Run by `make test` after the unit tests (`pytest -m smoke`); the book is built once, into
``build/smoke``. Each chapter is then tested for what it records: every value the committed
default-profile notebook records and every value its prose cites is glued, numeric values
are finite, the headline numbers lie in ranges that the smoke profile (tiny models, 2
epochs, a few hundred jets) really shows, and the chapters agree with each other where they
report the same thing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

import pytest
from fakes import glued, number

from src.analysis import scan
from src.book import build, chapters
from src.config import BOOK_DIR, BUILD_DIR, NOTEBOOKS_DIR, get_profile
from src.data.splits import split_indices
from src.fpga.feasibility import TARGETS
from src.models.spec import ModelSpec

pytestmark = pytest.mark.smoke

SMOKE = get_profile("smoke")
EXECUTED = BUILD_DIR / "smoke" / "book"
#: Test jets per class of the smoke profile (every chapter evaluates this split).
N_TEST = {p: len(split_indices(SMOKE.n_jets[p], SMOKE.seed).test) for p in ("qcd", "top")}
#: ``{glue:text}`name```, ``{glue:md}`name:fmt``` and the like in a chapter's prose.
CITED = re.compile(r"\{glue(?::\w+)?\}`(\w+)")
#: Runs of chapter 7's scan: generative recipes on QCD and top jets, the CNN once, per seed.
SCAN_RUNS = SMOKE.scan_seeds * sum(1 if r.kind == "classifier" else 2
                                   for r in scan.RECIPES.values())
#: Better than a coin toss by more than the statistical error of an AUC on the smoke test
#: split (about 0.04 for 150 QCD and 100 top jets).
ABOVE_CHANCE = (0.55, 1.0)

#: chapter -> glue name -> (low, high), inclusive: what a smoke run must show.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "01_data": {
        "n_qcd": (SMOKE.n_jets["qcd"],) * 2,
        "n_top": (SMOKE.n_jets["top"],) * 2,
        "top_mass_peak": (150.0, 200.0),  # GeV: the top mass shows even in a few hundred jets
        "mass_auc_top": (0.8, 1.0),
        "mass_auc_w": ABOVE_CHANCE,
    },
    "02_training": {
        "epochs_run": (SMOKE.epochs,) * 2,  # early stopping needs four stalled epochs
        "best_epoch": (1, SMOKE.epochs),
    },
    "03_latent_space": {
        "n_embed": (min(SMOKE.n_embed, N_TEST["qcd"]),) * 2,
        "probe_cont": ABOVE_CHANCE,  # linear-probe AUCs: the latents carry the class
        "probe_disc": ABOVE_CHANCE,
        "n_used": (1, ModelSpec(**SMOKE.model).n_categories),
        "corr_mass": (0.1, 1.0),  # the distance from the prior grows with the jet mass ...
        "corr_nconst": (0.1, 1.0),  # ... and with the number of constituents
    },
    "04_anomaly_scores": {
        "n_test_qcd": (N_TEST["qcd"],) * 2,
        "n_test_top": (N_TEST["top"],) * 2,
        "auc_kl_total": ABOVE_CHANCE,
        "cnn_auc": ABOVE_CHANCE,
        "mass_auc": (0.8, 1.0),
        "w_auc_kl_total": ABOVE_CHANCE,
    },
    "05_quantization": {
        "n_test_qcd": (N_TEST["qcd"],) * 2,
        "n_test_top": (N_TEST["top"],) * 2,
        "q_auc_float": ABOVE_CHANCE,
        "q_auc_quant": ABOVE_CHANCE,
        "prune_auc": ABOVE_CHANCE,
        "student_auc": ABOVE_CHANCE,
        "student_params": (1, 5000),  # trigger-sized
    },
    "06_fpga_feasibility": {
        "n_test": (N_TEST["qcd"] + N_TEST["top"],) * 2,
        "emu_corr": (0.99, 1.0),  # emulated against QKeras scores
        "student_latency_ns": (1.0, TARGETS.latency_ns),  # the tuned student within 1 µs
        "student_lut_pct": (0.0, TARGETS.resource_pct),
        "student_dsp_pct": (0.0, TARGETS.resource_pct),
        "reduced_r1_dsp_pct": (100.0, math.inf),  # the reduced encoder at reuse 1 does not fit
        "mults_ratio_max": (0.9, 1.1),  # our multiplications against hls4ml's plan
        "study_speedup": (1.0, math.inf),  # a timing, but the emulation beats 31 h by far
    },
    "07_model_independence": {
        # every recipe trained on QCD and on top jets per seed, the supervised CNN once
        "scan_runs": (SCAN_RUNS,) * 2,
        "scan_seeds": (SMOKE.scan_seeds,) * 2,
        "rs_params": (1, 5000),  # the recommended student is trigger-sized
        "rec_auc_top": (0.0, 1.0),
        "rec_auc_inverted": (0.0, 1.0),
        "rec_js1": (0.0, 1.0),  # a Jensen-Shannon divergence in bits
    },
}

Value = Callable[[str, str], float]
#: What two glued values (chapter, glue name) must satisfy together.
RELATIONS: dict[str, Callable[[Value], bool]] = {
    "the QCD sample splits into training, validation and test jets without loss":
        lambda v: v("02_training", "n_train") + v("02_training", "n_val")
        + v("04_anomaly_scores", "n_test_qcd") == v("01_data", "n_qcd"),
    "chapter 5 starts from chapter 2's encoder":
        lambda v: v("05_quantization", "full_params") == v("02_training", "encoder_params"),
    "the inverted task scores below the direct one":
        lambda v: v("04_anomaly_scores", "inv_auc_kl_total") < v("04_anomaly_scores",
                                                                 "auc_kl_total"),
    "the KL total rejects more QCD than a random cut at the working point":
        lambda v: v("04_anomaly_scores", "rej_kl") > 1 / v("04_anomaly_scores", "eff_point"),
    "chapter 5's teacher is chapter 4's JointVAE":
        lambda v: abs(v("05_quantization", "teacher_auc")
                      - v("04_anomaly_scores", "auc_kl_total")) <= 0.005,
    "quantization to <16,6> costs at most the tolerated AUC":
        lambda v: abs(v("05_quantization", "q_auc_quant") - v("05_quantization", "q_auc_float"))
        <= v("05_quantization", "q_tolerance"),
    "quantization lowers the QTools energy":
        lambda v: v("05_quantization", "energy_quant") < v("05_quantization", "energy_float"),
    "chapter 6 converts chapter 5's student and reduced encoder":
        lambda v: v("06_fpga_feasibility", "student_params") == v("05_quantization",
                                                                  "student_params")
        and v("06_fpga_feasibility", "encoder_params") == v("05_quantization", "reduced_params"),
    "chapter 6's QKeras student scores as in chapter 5 (rounded to 4 and 3 digits)":
        lambda v: abs(v("06_fpga_feasibility", "qkeras_auc") - v("05_quantization", "student_auc"))
        <= 6e-4,
    "the emulated firmware's AUC is within the target of the QKeras AUC":
        lambda v: abs(v("06_fpga_feasibility", "emu_auc") - v("06_fpga_feasibility", "qkeras_auc"))
        <= TARGETS.auc_gap,
}


@pytest.fixture(scope="module")
def book() -> dict[str, dict[str, str]]:
    """The smoke book, built once (chapters executed into build/smoke/book, HTML rendered):
    the glued values of every chapter, by chapter and glue name."""
    index = build("smoke")
    assert index.is_file() and index.stat().st_size > 0
    return {name: glued(EXECUTED / f"{name}.ipynb") for name in chapters()}


@pytest.mark.parametrize("name", chapters())
def test_chapter_runs_and_renders(book, name):
    notebook = json.loads((EXECUTED / f"{name}.ipynb").read_text())
    errors = [o.get("ename") for c in notebook["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert (BUILD_DIR / "smoke" / "_build" / "html" / "book" / f"{name}.html").is_file()


@pytest.mark.parametrize("name", chapters())
def test_chapter_records_every_value(book, name):
    values = book[name]
    expected = set(CITED.findall((NOTEBOOKS_DIR / f"{name}.py").read_text()))
    if (BOOK_DIR / f"{name}.ipynb").is_file():
        expected |= set(glued(BOOK_DIR / f"{name}.ipynb"))
    assert sorted(expected - set(values)) == []
    not_finite = {key: text for key, text in values.items()
                  if (value := number(text)) is not None and not math.isfinite(value)}
    assert not_finite == {}


@pytest.mark.parametrize("name", chapters())
def test_headline_values_lie_in_smoke_ranges(book, name):
    outside = {}
    for key, (low, high) in RANGES.get(name, {}).items():
        value = number(book[name].get(key, "not glued"))
        if value is None or not low <= value <= high:
            outside[key] = (book[name].get(key, "not glued"), (low, high))
    assert outside == {}


def test_every_range_names_a_chapter():
    assert set(RANGES) <= set(chapters())


@pytest.mark.parametrize("claim", RELATIONS)
def test_chapters_agree(book, claim):
    def value(chapter: str, key: str) -> float:
        text = book[chapter].get(key, "not glued")
        assert number(text) is not None, (chapter, key, text)
        return number(text)

    assert RELATIONS[claim](value), claim
