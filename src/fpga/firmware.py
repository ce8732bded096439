"""The book's two firmware models, from QKeras to bit-accurate emulation of the test jets.

The reduced encoder (the encoder of the QKeras ``<16,6>`` reduced joint VAE of chapter 5) and
the distilled student become hls4ml projects under their model folders,
``models/<profile>/<model>/hls4ml_prj_*`` (:func:`ensure_projects`, with
:data:`src.fpga.convert.BOOK_SETTINGS`), written and compiled once. The reference project
(``io_parallel``, Latency, reuse factor 1) of the student is emulated on the whole test split
(:func:`emulate_student`), and every other project of it must give bit-identical outputs
(:func:`check_variant`); the reduced encoder's is emulated by :mod:`src.fpga.exact`. Rates are
set beside the study's C-simulation (:data:`src.study.CSIM`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import metrics
from ..compress.distill import student
from ..compress.quantize import quantized_reduced
from ..config import Profile, models_dir
from ..models.student import student_scores
from ..study import CSIM
from .convert import REFERENCE_IMPLEMENTATION, ensure_book_project, project_dir, quiet
from .emulate import compare, emulate, library_ready, load_library
from .search import layer_config

#: Store folders (under ``models/<profile>/``) of the book's firmware models, keyed like
#: :data:`src.fpga.convert.BOOK_SETTINGS`; the names :mod:`src.compress` caches them under.
MODEL_FOLDERS = {"reduced encoder": "reduced_q16_6", "student": "student"}
IO_TYPES = ("io_parallel", "io_stream")
#: Project folder of the student with per-layer factors from the design search.
TUNED_PROJECT = "hls4ml_prj_parallel_latency_tuned"


def book_models(profile: Profile) -> dict[str, Any]:
    """The two Keras models of :data:`MODEL_FOLDERS`, loaded (or made) through their caches."""
    return {"reduced encoder": quantized_reduced(profile).encoder, "student": student(profile)}


def model_dirs(profile: Profile) -> dict[str, Path]:
    """Folder of each of the book's firmware models in ``profile``."""
    return {name: models_dir(profile) / folder for name, folder in MODEL_FOLDERS.items()}


@dataclass(frozen=True)
class Project:
    """A written hls4ml project and its in-memory model."""

    folder: Path
    hls_model: Any  # hls4ml.model.ModelGraph
    written_now: bool  # False: the project (and any compiled library) was reused


def ensure_projects(models: Mapping[str, Any], folders: Mapping[str, Path],
                    io_types: tuple[str, ...] = IO_TYPES,
                    layer_configs: Mapping[str, dict] | None = None
                    ) -> tuple[dict[tuple[str, str], Project], pd.DataFrame]:
    """The reference project of every model (``folders[name]``, :func:`model_dirs`) in every
    I/O type, written unless already there, with the per-layer entries ``layer_configs[name]``
    (e.g. the profiled types of :func:`src.fpga.exact.profiled_precision`). Returns the projects keyed ``(model, io_type)``
    and one row per project: its folder relative to the models folder, hls4ml layers,
    whether it was written now, whether its library is compiled, and the seconds it took."""
    projects, rows = {}, []
    for name, model in models.items():
        for io_type in io_types:
            folder = project_dir(folders[name], io_type, **REFERENCE_IMPLEMENTATION)
            start = time.perf_counter()
            hls_model, reused = ensure_book_project(model, name, folder, io_type,
                                                    (layer_configs or {}).get(name))
            projects[name, io_type] = Project(folder, hls_model, not reused)
            rows.append({"model": name, "I/O": io_type,
                         "project": str(folder.relative_to(folders[name].parents[1])),
                         "hls4ml layers": len(list(hls_model.get_layers())),
                         "written now": not reused, "compiled library": library_ready(folder),
                         "conversion [s]": round(time.perf_counter() - start, 1)})
    return projects, pd.DataFrame(rows).set_index(["model", "I/O"])


def hls_models(projects: Mapping[tuple[str, str], Project],
               io_type: str = "io_parallel") -> dict[str, Any]:
    """The hls4ml models of one I/O type, by model name."""
    return {name: project.hls_model for (name, io), project in projects.items() if io == io_type}


def compile_project(project: Project) -> float:
    """Build the project's emulation library with g++ unless it is there; wall seconds."""
    start = time.perf_counter()
    with quiet():
        load_library(project.hls_model)
    return time.perf_counter() - start


def study_csim_time() -> str:
    """The study's C-simulation time (:data:`src.study.CSIM`) as ``"<h> h <min> min"``."""
    hours, rest = divmod(int(CSIM.values["seconds"]), 3600)
    return f"{hours} h {rest // 60} min"


@dataclass(frozen=True)
class StudentEmulation:
    """The student's reference project run on the test jets, beside its QKeras scores."""

    images: np.ndarray  # (N, 40, 40) unit-sum test images, QCD first
    labels: np.ndarray  # (N,) 0 QCD, 1 top
    reference: np.ndarray  # (N,) QKeras scores (float32 arithmetic on quantized values)
    emulated: np.ndarray  # (N,) scores of the C++ emulation
    compile_s: float  # wall seconds of g++ (or of loading a compiled library)
    emulation_s: float  # wall seconds of the emulation
    n_workers: int
    agreement: dict[str, float]  # src.fpga.emulate.compare(reference, emulated)
    qkeras_auc: float
    emu_auc: float

    @property
    def images_per_s(self) -> float:
        return len(self.images) / self.emulation_s

    @property
    def seconds_per_study(self) -> float:
        """Seconds the emulation takes for the study's C-simulated images."""
        return CSIM.values["images"] / self.images_per_s

    @property
    def speedup(self) -> float:
        """The study's C-simulation time over ours for the same number of images."""
        return CSIM.values["seconds"] / self.seconds_per_study

    def glue_values(self) -> dict[str, Any]:
        """The numbers chapter 6's prose cites, by glue name, rounded as it prints them."""
        return {
            "student_compile_s": round(self.compile_s),
            "emu_corr": f"{self.agreement['correlation']:.6f}",
            "emu_max_diff": f"{self.agreement['max_abs_diff']:.2g}",
            "emu_mean_diff": f"{self.agreement['mean_abs_diff']:.2g}",
            "score_spread": f"{np.std(self.reference):.2f}",
            "qkeras_auc": round(self.qkeras_auc, 4),
            "emu_auc": round(self.emu_auc, 4),
            "auc_diff": f"{abs(self.emu_auc - self.qkeras_auc):.1e}",
            "emu_images_per_s": round(self.images_per_s),
            "emu_seconds_50k": round(self.seconds_per_study),
            "study_speedup": round(self.speedup),
            "workers": self.n_workers,
        }

    def table(self) -> pd.DataFrame:
        """AUC and speed of the QKeras model, the emulation and the study's C-simulation."""
        images, seconds = CSIM.values["images"], CSIM.values["seconds"]
        return pd.DataFrame({
            "QKeras (float32)": [self.qkeras_auc, np.nan, np.nan],
            "hls4ml emulation": [self.emu_auc, self.images_per_s, self.seconds_per_study / 60],
            "study's C-simulation": [np.nan, images / seconds, seconds / 60],
        }, index=["AUC, top vs QCD", "images per second", f"minutes per {images:,} images"])


def emulate_student(model, project: Project, images: np.ndarray, labels: np.ndarray,
                    n_workers: int) -> StudentEmulation:
    """Compile ``project`` and emulate it on ``images`` (``(N, 40, 40)``) in ``n_workers``
    processes, with a progress bar; score the same images with the QKeras ``model``."""
    compile_s = compile_project(project)
    start = time.perf_counter()
    emulated = emulate(project.folder, images[..., None], n_workers=n_workers)[:, 0]
    emulation_s = time.perf_counter() - start
    reference = student_scores(model, images)
    return StudentEmulation(images, labels, reference, emulated, compile_s, emulation_s,
                            n_workers, compare(reference, emulated),
                            metrics.auc(reference, labels), metrics.auc(emulated, labels))


def check_variant(label: str, project: Project, reference: StudentEmulation,
                  profile: Profile) -> pd.DataFrame:
    """Whether another project of the student gives bit-identical scores to the reference
    project, on ``profile.fpga_variant_images`` seeded test jets. One row, index ``label``:
    jets, seconds to compile, identical or not."""
    n = len(reference.images)
    subset = np.random.default_rng(profile.seed).choice(
        n, min(profile.fpga_variant_images, n), replace=False)
    compile_s = compile_project(project)
    out = emulate(project.folder, reference.images[subset, ..., None],
                  n_workers=reference.n_workers, progress=False)[:, 0]
    return pd.DataFrame([{"project": label, "images": len(subset), "compile [s]": round(compile_s),
                          "identical to io_parallel": bool(np.array_equal(
                              out, reference.emulated[subset]))}]).set_index("project")


def tuned_student_project(model, settings: Mapping[str, Mapping[str, int]],
                          folder: Path) -> Project:
    """The student's ``io_parallel`` project with the per-layer reuse and parallelization
    factors of :func:`src.fpga.search.tune` (``settings``), under ``folder`` (its model
    folder) / :data:`TUNED_PROJECT`."""
    output = Path(folder) / TUNED_PROJECT
    hls_model, reused = ensure_book_project(model, "student", output,
                                            layer_config=layer_config(settings))
    return Project(output, hls_model, not reused)


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n // 2`` QCD (label 0) then as many top (label 1) jets, drawn without
    replacement with ``seed`` (fewer if a class has fewer jets)."""
    rng = np.random.default_rng(seed)
    qcd, top = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    half = min(n // 2, len(qcd), len(top))
    return np.concatenate([qcd[rng.choice(len(qcd), half, replace=False)],
                           top[rng.choice(len(top), half, replace=False)]])
