"""Emulation benchmark: images per second through a compiled hls4ml model, against the study.

The study's C-simulation of its HLS encoder took 31 h 53 min for about 50,000 test images
(:data:`src.study.CSIM`); here the same kind of bit-accurate run is the hls4ml project's C++
built with g++ and called through ``ctypes`` (:func:`src.fpga.emulate.emulate`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..backend import keras
from ..config import get_profile, models_dir
from ..fpga.convert import REFERENCE_IMPLEMENTATION, ensure_book_project, project_dir
from ..fpga.emulate import emulate, library_ready, load_library
from ..models.spec import StudentSpec
from ..models.store import load
from ..models.student import build_student
from ..study import CSIM


def random_jet_images(n: int, seed: int = 0, size: int = 40) -> np.ndarray:
    """``(n, size, size)`` float32 images with a few hundred bright pixels each, unit sum."""
    rng = np.random.default_rng(seed)
    images = rng.gamma(0.3, size=(n, size, size)) * (rng.random((n, size, size)) < 0.15)
    images[:, size // 2, size // 2] += 1e-3  # no empty image
    return (images / images.sum(axis=(1, 2), keepdims=True)).astype(np.float32)


def emulation_throughput(n_images: int = 2000, n_workers: int = 2, profile: str = "default",
                         seed: int = 0) -> dict:
    """Time the bit-accurate emulation of the distilled student of ``profile``.

    The trained student (``models/<profile>/student``) is converted (``io_parallel``, Latency
    strategy, reuse factor 1, ``ap_ufixed<16,0>`` input) into its project folder, where the
    notebook of chapter 6 finds it compiled; without a trained student, an untrained network of the
    same architecture (seeded) is converted into a temporary folder. ``n_images`` random unit-sum
    images go through ``n_workers`` processes. Returns the model, its parameters, whether the
    library was compiled now and how long that took, the emulation wall time, images per second,
    seconds per 50,000 images and the study's C-simulation time over ours (``speedup_vs_study``).
    """
    directory = models_dir(get_profile(profile)) / "student"
    io_type = "io_parallel"
    with tempfile.TemporaryDirectory(prefix="bench_emulation_") as scratch:
        try:
            model, name = load(directory), f"trained student ({directory.name}, {profile})"
            project = project_dir(directory, io_type, **REFERENCE_IMPLEMENTATION)
        except (FileNotFoundError, ValueError, OSError):
            keras.utils.set_random_seed(seed)
            model, name = build_student(StudentSpec()), "untrained student-sized network"
            project = Path(scratch) / "hls4ml_prj"
        # the reference project of chapter 6: the same settings share its compiled library
        hls_model, _ = ensure_book_project(model, "student", project, io_type)
        compiled_now = not library_ready(project)
        start = time.perf_counter()
        load_library(hls_model)
        compile_s = time.perf_counter() - start if compiled_now else 0.0
        images = random_jet_images(n_images, seed)[..., None]
        start = time.perf_counter()
        emulate(project, images, n_workers=n_workers, progress=False)
        wall = time.perf_counter() - start
    rate = n_images / wall
    per_study = CSIM.values["images"] / rate
    return {
        "model": name,
        "parameters": int(model.count_params()),
        "io_type": io_type,
        "n_images": n_images,
        "n_workers": n_workers,
        "compiled_now": compiled_now,
        "compile_s": compile_s,
        "wall_s": wall,
        "images_per_s": rate,
        "seconds_per_50k": per_study,
        "study_seconds_per_50k": float(CSIM.values["seconds"]),
        "speedup_vs_study": CSIM.values["seconds"] / per_study,
    }
