"""Firmware precision from profiled values, and the exact emulation of whole test splits.

The reduced encoder's types come from :mod:`src.fpga.precision` (profiled on training jets of
both classes) and are recorded beside its weights in :data:`PRECISION_FILE`, so that
``python -m src score --firmware`` rebuilds the same firmware. :func:`emulate_exact` runs the
fixed-point model (:class:`src.fpga.fixedpoint.FirmwareModel`) on every test jet, under the
study's uniform ``ap_fixed<16,6>`` and under the profiled types, and proves on a seeded subset
that it is bit-identical to the compiled hls4ml C++. :func:`firmware_scores` scores images
through the firmware of a model folder.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import metrics
from ..analysis.scores import kl_scores
from ..config import Profile
from ..data.splits import labelled
from ..files import atomic_file
from ..models.networks import encoder_outputs
from ..models.spec import ENCODER_OUTPUTS
from ..models.store import data_fingerprint
from ..study import CSIM
from .convert import BOOK_SETTINGS, REFERENCE_IMPLEMENTATION, convert, quiet
from .emulate import emulate
from .firmware import balanced_subset
from .fixedpoint import FirmwareModel
from .precision import RULES, input_type, layer_config, profile_layers

#: File in a model folder recording the profiled hls4ml layer configuration of its encoder.
PRECISION_FILE = "firmware_precision.json"
#: Training jets (half QCD, half top) the precision is profiled on.
PROFILE_JETS = 2_000
#: The emulated KL total may differ from QKeras's by this fraction in the median.
TARGET_MEDIAN = 0.005
#: The study's hls4ml settings: every unquantized result ``ap_fixed<16,6>``.
STUDY_TYPES = BOOK_SETTINGS["reduced encoder"]
_HEADS = ENCODER_OUTPUTS["jointvae"]


def profiled_precision(encoder: Any, profile: Profile, folder: Path) -> dict[str, dict]:
    """The hls4ml ``LayerName`` entries of ``encoder`` profiled on :data:`PROFILE_JETS`
    training jets (seed ``profile.seed + 2``), read from ``folder`` / :data:`PRECISION_FILE`
    while the weights are unchanged, else profiled and written there."""
    recorded = recorded_precision(encoder, folder)
    if recorded is not None:
        return recorded
    images, labels = labelled(profile, "train")
    pick = balanced_subset(labels, PROFILE_JETS, profile.seed + 2)
    config = layer_config(profile_layers(encoder, images[pick]))
    config[encoder.layers[0].name] = {"Precision": {"result": input_type(images[pick])}}
    with atomic_file(Path(folder) / PRECISION_FILE) as tmp:
        tmp.write_text(json.dumps({"weights": data_fingerprint(*encoder.get_weights()),
                                   "profile_jets": PROFILE_JETS, "rules": RULES,
                                   "layer_config": config},
                                  indent=1))
    return config


def recorded_precision(encoder: Any, folder: Path) -> dict[str, dict] | None:
    """The layer configuration ``folder`` / :data:`PRECISION_FILE` records for the weights of
    ``encoder`` under the current :data:`~src.fpga.precision.RULES`; None without a record or
    with one of other weights, rules or sample size."""
    path = Path(folder) / PRECISION_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if (record.get("weights") != data_fingerprint(*encoder.get_weights())
            or record.get("rules") != RULES or record.get("profile_jets") != PROFILE_JETS):
        return None
    return record["layer_config"]


def precision_table(config: dict[str, dict]) -> pd.DataFrame:
    """The profiled types of :func:`profiled_precision`, one row per layer."""
    rows = {name: {"result": entry.get("Precision", {}).get("result", ""),
                   "scale and shift": entry.get("Precision", {}).get("scale", ""),
                   "variance": entry.get("Precision", {}).get("variance", ""),
                   "1/sqrt Newton steps": entry.get("NewtonSteps", "")}
            for name, entry in config.items() if not name.endswith("_linear")}
    return pd.DataFrame(rows).T.rename_axis("layer")


def firmware_model(keras_model: Any, settings: dict[str, Any]) -> FirmwareModel:
    """The fixed-point model of ``keras_model`` converted with ``settings`` (not written)."""
    with tempfile.TemporaryDirectory() as tmp, quiet():
        return FirmwareModel(convert(keras_model, tmp, write=False, **REFERENCE_IMPLEMENTATION,
                                     **settings))


#: Jets (half QCD, half top) of the normalization ablation.
ABLATION_JETS = 2_000


def _norm_steps(config: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """The profiled configuration built up one normalization choice at a time: result types
    only (the port's default normalization), then the scale and shift, the Newton step and the
    variance type of :func:`src.fpga.precision.layer_config`."""
    def strip(keep: tuple[str, ...], newton: bool) -> dict[str, dict]:
        out = {}
        for name, entry in config.items():
            entry = copy.deepcopy(entry)
            if name.endswith("_norm"):
                entry["Precision"] = {k: v for k, v in entry["Precision"].items()
                                      if k == "result" or k in keep}
                if not newton:
                    entry.pop("NewtonSteps", None)
            out[name] = entry
        return out
    return {"profiled result types, default normalization": strip((), False),
            "+ scale and shift": strip(("scale", "bias"), False),
            "+ Newton step": strip(("scale", "bias"), True),
            "+ variance type (all profiled choices)": config}


def relative_difference(kl: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|kl - reference| / |reference|`` per jet."""
    return np.abs(kl - reference) / np.abs(reference)


def _difference_summary(relative: np.ndarray) -> dict[str, float]:
    """Median and 99th percentile [%] of relative differences, as the tables print them."""
    return {"median relative KL difference [%]": 100 * np.median(relative),
            "99th percentile [%]": 100 * np.percentile(relative, 99)}


def norm_ablation(encoder: Any, config: dict[str, dict], images: np.ndarray,
                  kl_qkeras: np.ndarray) -> pd.DataFrame:
    """:func:`_difference_summary` of each step of :func:`_norm_steps` against the QKeras KL
    totals ``kl_qkeras`` of ``images``."""
    return pd.DataFrame({label: _difference_summary(relative_difference(_kl_total(
        firmware_model(encoder, {**STUDY_TYPES, "layer_config": layers}).predict(images)),
        kl_qkeras)) for label, layers in _norm_steps(config).items()}).T


def _kl_total(heads: list[np.ndarray]) -> np.ndarray:
    return kl_scores(dict(zip(_HEADS, heads, strict=True)))["kl_total"].to_numpy()


@dataclass(frozen=True)
class ExactEmulation:
    """The reduced encoder's firmware on the whole test split, beside QKeras."""

    labels: np.ndarray  # (N,) 0 QCD, 1 top
    kl_qkeras: np.ndarray  # (N,) KL total of the QKeras encoder [nats]
    kl_study: np.ndarray  # (N,) KL total of the firmware with the study's types
    kl_profiled: np.ndarray  # (N,) KL total of the firmware with profiled types
    numpy_s: float  # seconds of the NumPy emulation of the profiled firmware
    cpp_images: int  # jets also run through the compiled C++ (0: none)
    cpp_s: float  # seconds of the C++ on those jets
    cpp_identical: bool | None  # C++ bit-identical to the NumPy emulation (None: not run)
    compile_s: float  # g++ seconds (NaN when compiled before)
    n_workers: int

    def relative(self, kl: np.ndarray) -> np.ndarray:
        return relative_difference(kl, self.kl_qkeras)

    def agreement(self) -> pd.DataFrame:
        """KL total and AUC of each firmware against QKeras, on every test jet."""
        rows = {}
        for label, kl in (("study's ap_fixed<16,6>", self.kl_study),
                          ("profiled types", self.kl_profiled)):
            rows[label] = {**_difference_summary(self.relative(kl)),
                           "AUC top vs QCD": metrics.auc(kl, self.labels),
                           "AUC difference to QKeras": metrics.auc(kl, self.labels)
                           - metrics.auc(self.kl_qkeras, self.labels)}
        table = pd.DataFrame(rows).T
        table.loc["QKeras (float32)", "AUC top vs QCD"] = metrics.auc(self.kl_qkeras, self.labels)
        return table

    def glue_values(self) -> dict[str, Any]:
        """The numbers chapter 8 cites, by glue name, as it prints them."""
        speed = self.speed()["times the study's rate"]
        numpy_rate = len(self.labels) / self.numpy_s
        return {
            "study_median": f"{100 * np.median(self.relative(self.kl_study)):.2f}",
            "profiled_median": f"{100 * np.median(self.relative(self.kl_profiled)):.2f}",
            "profiled_auc_diff":
                f"{abs(self.agreement().loc['profiled types', 'AUC difference to QKeras']):.1e}",
            "cpp_jets": f"{self.cpp_images:,}",
            "numpy_rate": f"{numpy_rate:.0f}",
            "numpy_minutes": f"{CSIM.values['images'] / numpy_rate / 60:.1f}",
            "numpy_vs_study": f"{speed.iloc[2]:,.0f}",
            "cpp_vs_study": f"{speed.iloc[1]:,.0f}" if self.cpp_images else "(not run)",
        }

    def identity_text(self) -> str:
        """One sentence on the C++ check."""
        if not self.cpp_images:
            return ("This profile does not compile the reduced encoder's C++ (about 8 minutes "
                    "and 3 GB); `tests/test_fixedpoint.py` proves the emulation bit-identical "
                    "on small encoders.")
        verdict = "bit-identical to" if self.cpp_identical else "DIFFERENT from"
        compiled = ("compiled before" if np.isnan(self.compile_s)
                    else f"compiled in {self.compile_s / 60:.1f} minutes")
        return (f"On {self.cpp_images:,} test jets the NumPy emulation is {verdict} the hls4ml "
                f"C++ ({compiled}, run in {self.cpp_s:.0f} s on {self.n_workers} processes).")

    def speed(self) -> pd.DataFrame:
        """Images per second of the same network: the study's C-simulation, the hls4ml C++
        built with g++, the NumPy emulation; and the time for the study's images."""
        images = CSIM.values["images"]
        rates = {"study's C-simulation": images / CSIM.values["seconds"],
                 f"hls4ml C++ (g++ -O3, {self.n_workers} processes)": self.cpp_images / self.cpp_s,
                 "NumPy fixed-point emulation (1 process)": len(self.labels) / self.numpy_s}
        study = rates["study's C-simulation"]
        return pd.DataFrame({"images per second": rates,
                             f"minutes per {images:,} images": {k: images / v / 60
                                                                for k, v in rates.items()},
                             "times the study's rate": {k: v / study for k, v in rates.items()}})


def emulate_exact(encoder: Any, hls_model: Any, project_folder: Path, images: np.ndarray,
                  labels: np.ndarray, cpp_pick: np.ndarray, n_workers: int) -> ExactEmulation:
    """Emulate the profiled firmware ``hls_model`` and the study's on all ``images``; run the
    compiled C++ of ``project_folder`` on ``images[cpp_pick]`` and compare bit by bit."""
    reference = encoder_outputs(encoder, images)
    study = firmware_model(encoder, STUDY_TYPES).predict(images, progress=True)
    fixed = FirmwareModel(hls_model)
    start = time.perf_counter()
    profiled = fixed.predict(images, progress=True)
    numpy_s = time.perf_counter() - start
    compile_s = cpp_s = np.nan
    identical = None
    if len(cpp_pick):
        compiled_before = any((Path(project_folder) / "firmware").glob("*.so"))
        start = time.perf_counter()
        with quiet():
            emulate(project_folder, images[:1, ..., None], n_workers=1, progress=False)
        compile_s = np.nan if compiled_before else time.perf_counter() - start
        start = time.perf_counter()
        cpp = emulate(project_folder, images[cpp_pick, ..., None], n_workers=n_workers)
        cpp_s = time.perf_counter() - start
        identical = all(np.array_equal(c.reshape(len(cpp_pick), -1), p[cpp_pick])
                        for c, p in zip(cpp, profiled, strict=True))
    return ExactEmulation(labels, _kl_total([reference[k] for k in _HEADS]), _kl_total(study),
                          _kl_total(profiled), numpy_s, len(cpp_pick), cpp_s, identical,
                          compile_s, n_workers)


def firmware_scores(model: Any, folder: Path, images: np.ndarray,
                    progress: bool = True) -> pd.DataFrame:
    """Scores of ``images`` through the emulated firmware of the model saved in ``folder``:
    a student's score, or a quantized joint VAE encoder's KL scores with the types recorded in
    :data:`PRECISION_FILE`; the ``anomaly`` column last."""
    kind = getattr(getattr(model, "spec", None), "kind", None)
    if kind == "student":
        out = firmware_model(model, BOOK_SETTINGS["student"]).predict(images, progress=progress)
        return pd.DataFrame({"anomaly": out[:, 0]})
    if kind != "jointvae" or not getattr(model.spec, "bits", None):
        raise ValueError(f"{folder}: no firmware for a model of kind {kind!r} "
                         "(a student or a quantized joint VAE has one)")
    path = Path(folder) / PRECISION_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing; the firmware's types are profiled when the book "
                         "is built (python -m src book)")
    config = recorded_precision(model.encoder, folder)
    if config is None:
        raise ValueError(f"{path}: recorded for other weights or precision rules; rebuild the book")
    settings = {**STUDY_TYPES, "layer_config": config}
    heads = firmware_model(model.encoder, settings).predict(images, progress=progress)
    frame = kl_scores(dict(zip(_HEADS, heads, strict=True)))
    frame["anomaly"] = frame["kl_total"]
    return frame
