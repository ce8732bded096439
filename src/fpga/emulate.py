"""Bit-accurate C++ emulation of hls4ml firmware, in parallel processes.

:func:`emulate` runs a project's C++ (hls4ml ``compile()``: the firmware source built with
g++ into a shared library, bit-accurate to the HLS fixed-point arithmetic) on many images
in parallel processes and returns one array per output head, like ``keras_model.predict``;
:func:`compare` measures how far the emulation is from the Keras model.

This module needs neither TensorFlow nor hls4ml unless a project must be compiled first, so
that emulation workers started with ``spawn`` do not pay for them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from ..processes import unordered, worker_pool

if TYPE_CHECKING:
    from hls4ml.model import ModelGraph


def library_ready(project: str | Path) -> bool:
    """Whether the project folder holds its compiled emulation library."""
    return _library_file(Path(project)) is not None


@dataclass(frozen=True)
class EmulationLibrary:
    """Where a compiled hls4ml project lives and what its top function takes and returns."""

    path: str
    function: str
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]


def _read_project(project_dir: Path) -> dict:
    config_file = project_dir / "hls4ml_config.yml"
    if not config_file.is_file():
        raise FileNotFoundError(f"no hls4ml project in {project_dir} (missing hls4ml_config.yml)")
    with open(config_file) as f:
        return yaml.load(f, Loader=_ProjectLoader)


class _ProjectLoader(yaml.SafeLoader):
    """Safe YAML loader that skips the ``!keras_model`` tag of ``hls4ml_config.yml``."""


_ProjectLoader.add_multi_constructor("!keras_model", lambda loader, suffix, node: None)


def load_library(model: ModelGraph | str | Path) -> EmulationLibrary:
    """The compiled library of an hls4ml model or of a project directory, compiling if needed.

    The library is ``firmware/<project>-<stamp>.so`` of the written project. If it is missing, an
    in-memory model is compiled with ``model.compile()`` (which writes the project again) and a
    project directory through ``hls4ml.converters.link_existing_project(...).compile()``.
    """
    if isinstance(model, (str, Path)):
        project_dir = Path(model)
        _read_project(project_dir)
        build = None
    else:
        project_dir = Path(model.config.get_output_dir())
        build = model.compile
    if _library_file(project_dir) is None:
        if build is None:
            # hls4ml (and with it TensorFlow) only when a written project must be compiled, so
            # that emulation workers and score commands with a compiled library stay light.
            from .instancenorm import link_project

            build = link_project(project_dir).compile
        build()
    lib = _library_file(project_dir)
    if lib is None:
        raise RuntimeError(f"compiling {project_dir} produced no shared library")

    config = _read_project(project_dir)
    inputs = list(config["InputShapes"].values())
    if len(inputs) != 1:
        raise ValueError(f"emulation supports single-input models, {project_dir} has {len(inputs)} inputs")
    function = f"{config['ProjectName']}_double"
    names = _bridge_arguments(project_dir / f"{config['ProjectName']}_bridge.cpp", function)
    shapes = config["OutputShapes"]
    if not names[1:] or any(name not in shapes for name in names[1:]):
        raise RuntimeError(f"outputs of {function} ({names[1:]}) do not match {list(shapes)}")
    return EmulationLibrary(
        path=str(lib.resolve()),
        function=function,
        input_shape=tuple(int(d) for d in inputs[0]),
        output_shapes=tuple(tuple(int(d) for d in shapes[name]) for name in names[1:]),
    )


def _library_file(project_dir: Path) -> Path | None:
    """The project's compiled library, or None if the project or the library is missing."""
    if not (project_dir / "hls4ml_config.yml").is_file():
        return None
    config = _read_project(project_dir)
    lib = project_dir / "firmware" / f"{config['ProjectName']}-{config['Stamp']}.so"
    return lib if lib.is_file() else None


def _bridge_arguments(bridge: Path, function: str) -> list[str]:
    """Argument names of the bridge's top function, inputs first, outputs in call order.

    ``hls4ml_config.yml`` lists the output shapes with sorted keys, not in call order.
    """
    match = re.search(rf"void {function}\((.*?)\)\s*{{", bridge.read_text(), re.S)
    if match is None:
        raise RuntimeError(f"no function {function} in {bridge}")
    return re.findall(r"double\s*\*\s*(\w+)", match.group(1))


_loaded: dict[str, Any] = {}


def _run(lib: EmulationLibrary, x: np.ndarray) -> list[np.ndarray]:
    """Run the top function on every row of ``x`` (float64) in this process."""
    if lib.path not in _loaded:
        _loaded[lib.path] = ctypes.CDLL(lib.path)
    func = getattr(_loaded[lib.path], lib.function)
    pointer = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    func.argtypes = [pointer] * (1 + len(lib.output_shapes))
    func.restype = None
    sizes = [int(np.prod(s)) for s in lib.output_shapes]
    outputs = [np.zeros((len(x), size)) for size in sizes]
    rows = [np.zeros(size) for size in sizes]
    for i in range(len(x)):
        func(np.ascontiguousarray(x[i]), *rows)
        for out, row in zip(outputs, rows, strict=True):
            out[i] = row
    return outputs


def _run_batch(lib: EmulationLibrary, start: int, x: np.ndarray) -> list[np.ndarray]:
    """:func:`_run` of one batch (its start index travels with it)."""
    return _run(lib, x)


def emulate(
    model: ModelGraph | str | Path,
    images: np.ndarray,
    n_workers: int = 2,
    batch_size: int = 256,
    progress: bool = True,
    start_method: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Bit-accurate C++ emulation of an hls4ml model on ``images``, in ``n_workers`` processes.

    ``model`` is an hls4ml model or the directory of a written project. Every worker loads the
    same compiled library (compiled once, here, if needed) with ``ctypes`` and runs batches of
    ``batch_size`` images through the project's ``<project>_double`` bridge function (the one
    hls4ml's ``predict`` uses for float64 input). Returns the outputs with the batch axis first
    and the Keras output shapes: one array, or a list of arrays for a multi-output model.

    Workers are started with ``start_method`` (default ``"fork"`` where available, else
    ``"spawn"``): forked workers touch only NumPy and the C++ library, never TensorFlow, and start
    at once; spawned ones re-import the caller's ``__main__`` (scripts need the usual
    ``if __name__ == "__main__":`` guard).
    """
    if n_workers < 1 or batch_size < 1:
        raise ValueError(f"n_workers and batch_size must be >= 1, got {n_workers}, {batch_size}")
    methods = multiprocessing.get_all_start_methods()
    if start_method is None:
        start_method = "fork" if "fork" in methods else "spawn"
    if start_method not in methods:
        raise ValueError(f"start_method must be one of {methods}, got {start_method!r}")
    lib = load_library(model)
    x = np.asarray(images, dtype=np.float64)
    n_in = int(np.prod(lib.input_shape))
    if x.size % n_in:
        raise ValueError(f"images of shape {x.shape} do not split into inputs of shape {lib.input_shape}")
    x = x.reshape(-1, n_in)
    if len(x) == 0:
        raise ValueError("no images to emulate")
    starts = list(range(0, len(x), batch_size))

    parts: dict[int, list[np.ndarray]] = {}
    with tqdm(total=len(x), desc="hls4ml emulation", unit="img", disable=not progress) as bar:
        if n_workers == 1 or len(starts) == 1:
            for s in starts:
                parts[s] = _run(lib, x[s : s + batch_size])
                bar.update(len(parts[s][0]))
        else:
            batches = [(lib, s, x[s : s + batch_size]) for s in starts]
            with worker_pool(n_workers, start_method) as pool:
                for (_, s, _), out in unordered(pool, _run_batch, batches):
                    parts[s] = out
                    bar.update(len(out[0]))

    outputs = [
        np.concatenate([parts[s][k] for s in starts]).reshape((len(x), *shape))
        for k, shape in enumerate(lib.output_shapes)
    ]
    return outputs[0] if len(outputs) == 1 else outputs


def compare(
    keras_outputs: np.ndarray | Sequence[np.ndarray], hls_outputs: np.ndarray | Sequence[np.ndarray]
) -> dict[str, float]:
    """Agreement of two sets of outputs: max and mean absolute difference, Pearson correlation.

    Lists (multi-output models) are compared head by head and pooled; shapes must match per sample.
    """
    a = _flatten(keras_outputs)
    b = _flatten(hls_outputs)
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
    diff = np.abs(a - b)
    if a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    else:
        corr = float("nan")
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "correlation": corr,
        "n_values": int(a.size),
    }


def _flatten(outputs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    heads = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    heads = [np.asarray(h, dtype=np.float64) for h in heads]
    return np.concatenate([h.reshape(len(h), -1) for h in heads], axis=1)

