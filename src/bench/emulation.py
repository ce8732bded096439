"""Emulation benchmark: images per second through the firmware models, against the study.

The study's C-simulation of its HLS encoder took 31 h 53 min for about 50,000 test images
(:data:`src.study.CSIM`); here the same kind of bit-accurate run is the hls4ml project's C++
built with g++ and called through ``ctypes`` (:func:`src.fpga.emulate.emulate`), and for the
study's own network, the reduced encoder, also the NumPy fixed-point emulation
(:class:`src.fpga.fixedpoint.FirmwareModel`), which is bit-identical to that C++.
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
from ..fpga.exact import STUDY_TYPES, firmware_model, recorded_precision
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
    return {**_row(name, int(model.count_params()), n_images, n_workers, compile_s, wall),
            "compiled_now": compiled_now}


def _row(name: str, parameters: int, n_images: int, n_workers: int, compile_s: float,
         wall: float) -> dict:
    rate = n_images / wall
    return {"model": name, "parameters": parameters, "io_type": "io_parallel",
            "n_images": n_images, "n_workers": n_workers, "compile_s": compile_s, "wall_s": wall,
            "images_per_s": rate, "seconds_per_50k": CSIM.values["images"] / rate,
            "study_seconds_per_50k": float(CSIM.values["seconds"]),
            "speedup_vs_study": CSIM.values["seconds"] * rate / CSIM.values["images"]}


def reduced_throughput(n_images: int = 2000, cpp_images: int = 200, n_workers: int = 2,
                       profile: str = "default", seed: int = 0) -> list[dict]:
    """Time the study's network, the reduced encoder of ``profile``, like for like: the NumPy
    fixed-point emulation on ``n_images`` random unit-sum images (one process, the profiled
    types chapter 8 recorded for these weights, else the study's), and the hls4ml C++ of
    chapter 8's project on ``cpp_images`` of them when that project is compiled (about 3.5
    minutes; ``make book`` does it). Rows as :func:`emulation_throughput`'s."""
    directory = models_dir(get_profile(profile)) / "reduced_q16_6"
    encoder = load(directory).encoder
    settings, types = dict(STUDY_TYPES), "study's types"
    recorded = recorded_precision(encoder, directory)
    if recorded is not None:
        settings["layer_config"], types = recorded, "profiled types"
    images = random_jet_images(n_images, seed)
    fixed = firmware_model(encoder, settings)
    start = time.perf_counter()
    fixed.predict(images)
    params = int(encoder.count_params())
    rows = [_row(f"reduced encoder, NumPy fixed point ({types})", params, n_images, 1, 0.0,
                 time.perf_counter() - start)]
    project = project_dir(directory, "io_parallel", **REFERENCE_IMPLEMENTATION)
    if library_ready(project):
        start = time.perf_counter()
        emulate(project, images[:cpp_images, ..., None], n_workers=n_workers, progress=False)
        rows.append(_row("reduced encoder, hls4ml C++ (chapter 8's project)", params,
                         cpp_images, n_workers, 0.0, time.perf_counter() - start))
    return rows
