"""hls4ml conversion of (Q)Keras models and bit-accurate C++ emulation of the firmware.

``convert`` writes an hls4ml project (precision taken from the QKeras quantizers, the custom
``InstanceNormalization`` registered through :mod:`src.hls_instancenorm`); ``emulate`` runs the
project's C++ (hls4ml ``compile()``: the firmware source built with g++ into a shared library,
bit-accurate to the HLS fixed-point arithmetic) on many images in parallel processes;
``compare`` measures how far the emulation is from the Keras model.

Multi-output models: hls4ml 1.3 converts a Keras v2 model with several outputs (e.g. the encoder's
``z_categorical``, ``z_mean``, ``z_var`` heads) as is; the top function gets one output array per
head, in the order of ``keras_model.outputs``, and :func:`emulate` returns a list with one array
per head, like ``keras_model.predict``. No wrapper model is needed.

This module imports TensorFlow and hls4ml only inside :func:`convert` and when it has to
compile, so that emulation workers started with ``spawn`` do not pay for them.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import json
import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from hls4ml.model import ModelGraph

__all__ = [
    "U250_PART", "convert", "ungroup_convolutions", "emulate", "compare", "EmulationLibrary",
    "load_library", "ensure_project", "project_dir", "library_ready", "precision_table",
    "STUDY_CSIM_SECONDS", "STUDY_CSIM_IMAGES",
]

#: Xilinx part of the Alveo U250 card used in the study.
U250_PART = "xcu250-figd2104-2L-e"
#: The study's C-simulation of its HLS encoder: 31 h 53 min for about 50,000 test images.
STUDY_CSIM_SECONDS = 31 * 3600 + 53 * 60
STUDY_CSIM_IMAGES = 50_000
#: File in a project folder recording what :func:`ensure_project` wrote it from.
RECORD_FILE = "conversion.json"
_IO_TYPES = ("io_parallel", "io_stream")
_STRATEGIES = ("Latency", "Resource")


def convert(
    keras_model,
    output_dir: str | Path,
    part: str = U250_PART,
    clock_period: float = 5,
    io_type: str = "io_parallel",
    strategy: str = "Latency",
    reuse_factor: int = 1,
    default_precision: str = "ap_fixed<16,6>",
    input_precision: str | None = None,
    result_precision: str | None = None,
    backend: str = "Vivado",
    project_name: str = "myproject",
    layer_config: dict[str, dict] | None = None,
    write: bool = True,
) -> ModelGraph:
    """Convert a (Q)Keras model into an hls4ml project written under ``output_dir``.

    The configuration is ``hls4ml.utils.config_from_keras_model(granularity="name")``: weights,
    biases and activations of QKeras layers keep their quantizers' precision, other types
    default to ``default_precision`` or are inferred by hls4ml ("auto"). The model input gets
    ``input_precision`` (default: ``default_precision``); hls4ml truncates inputs to it, so
    ``ap_fixed<16,6>`` keeps 10 fractional bits, too few for images normalized to unit sum
    (``ap_ufixed<16,0>`` keeps 16). ``result_precision`` replaces the outputs hls4ml would infer
    ("auto": exact, often 35-45 bit accumulators after a convolution, which make the C++ slow and
    the instance-norm types wide); ``"ap_fixed<16,6>"`` is what the study's hls4ml used for
    unquantized outputs. ``layer_config`` maps a layer name to entries merged into its
    hls4ml layer config (e.g. ``{"inorm": {"Precision": {"variance": "ap_ufixed<40,18>"},
    "TableSize": 2048}}``).
    Grouped convolutions are first rewritten by :func:`ungroup_convolutions` (hls4ml 1.3 ignores
    ``groups``). Returns the hls4ml model, written (unless ``write`` is false) but not compiled.
    """
    if io_type not in _IO_TYPES:
        raise ValueError(f"io_type must be one of {_IO_TYPES}, got {io_type!r}")
    strategies = {s.lower(): s for s in _STRATEGIES}
    if strategy.lower() not in strategies:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if int(reuse_factor) != reuse_factor or reuse_factor < 1:
        raise ValueError(f"reuse_factor must be a positive integer, got {reuse_factor!r}")

    from .hls_instancenorm import register

    register()
    import hls4ml

    keras_model = ungroup_convolutions(keras_model)
    config = hls4ml.utils.config_from_keras_model(
        keras_model,
        granularity="name",
        backend=backend,
        default_precision=default_precision,
        default_reuse_factor=int(reuse_factor),
    )
    config["Model"]["Strategy"] = strategies[strategy.lower()]
    inputs = {layer.name for layer in keras_model.layers if type(layer).__name__ == "InputLayer"}
    for name, entries in config["LayerName"].items():
        precision = entries.setdefault("Precision", {})
        if name in inputs and input_precision is not None:
            precision["result"] = input_precision
        elif name not in inputs and result_precision is not None and precision.get("result") == "auto":
            precision["result"] = result_precision
    for name, entries in (layer_config or {}).items():
        if name not in config["LayerName"]:
            raise ValueError(f"layer_config names an unknown layer {name!r}")
        _merge(config["LayerName"][name], entries)

    hls_model = hls4ml.converters.convert_from_keras_model(
        keras_model,
        hls_config=config,
        output_dir=str(output_dir),
        project_name=project_name,
        backend=backend,
        part=part,
        clock_period=clock_period,
        io_type=io_type,
    )
    if write:
        hls_model.write()
    return hls_model


def project_dir(model_dir: str | Path, io_type: str = "io_parallel", strategy: str = "Latency",
                reuse_factor: int = 1) -> Path:
    """``<model_dir>/hls4ml_prj_<parallel|stream>_<strategy>_rf<R>``: one project per setting."""
    name = f"hls4ml_prj_{io_type.removeprefix('io_')}_{strategy.lower()}_rf{reuse_factor}"
    return Path(model_dir) / name


def ensure_project(keras_model, output_dir: str | Path, **settings: Any) -> tuple[ModelGraph, bool]:
    """:func:`convert` unless ``output_dir`` already holds the project of the same model.

    "Same" means the same architecture, weights, ``settings`` (keyword arguments of
    :func:`convert`), hls4ml version and instance-norm header, recorded as a digest in
    ``RECORD_FILE``. Then the model is converted in memory only and the written project, with any
    compiled library (minutes of g++ for a big model), is kept. Returns ``(hls_model, reused)``.
    """
    output_dir = Path(output_dir)
    record = output_dir / RECORD_FILE
    digest = _digest(keras_model, settings)
    if (record.is_file() and (output_dir / "hls4ml_config.yml").is_file()
            and json.loads(record.read_text()).get("digest") == digest):
        return convert(keras_model, output_dir, write=False, **settings), True
    record.unlink(missing_ok=True)
    for stale in (output_dir / "firmware").glob("*.so"):
        stale.unlink()
    hls_model = convert(keras_model, output_dir, **settings)
    record.write_text(json.dumps({"digest": digest, "settings": settings}, indent=1, default=str))
    return hls_model, False


def _digest(keras_model, settings: dict[str, Any]) -> str:
    from .hls_instancenorm import HEADER

    h = hashlib.sha256()
    for part in (keras_model.to_json(), json.dumps(settings, sort_keys=True, default=str),
                 importlib.metadata.version("hls4ml")):
        h.update(part.encode())
    h.update(HEADER.read_bytes())
    for w in keras_model.get_weights():
        h.update(str(w.shape).encode() + np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def precision_table(hls_model: ModelGraph):
    """The C++ types of an hls4ml model, one row per layer: hls4ml class, output, weight, bias and
    accumulator types (empty where a layer has none) and the reuse factor hls4ml set."""
    import pandas as pd
    from hls4ml.backends.fpga.fpga_types import APTypeConverter

    def cpp(precision) -> str:
        if precision is None:
            return ""
        return APTypeConverter().convert(precision).definition_cpp()

    rows = {}
    for node in hls_model.get_layers():
        weights = {k: getattr(node.weights.get(k), "type", None) for k in ("weight", "bias")}
        accum = node.get_attr("accum_t")
        rows[node.name] = {
            "hls4ml layer": node.class_name,
            "output": cpp(node.get_output_variable().type.precision),
            "weight": cpp(getattr(weights["weight"], "precision", None)),
            "bias": cpp(getattr(weights["bias"], "precision", None)),
            "accumulator": cpp(getattr(accum, "precision", None)),
            "reuse factor": node.get_attr("reuse_factor", ""),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("layer")


def library_ready(project: str | Path) -> bool:
    """Whether the project folder holds its compiled emulation library."""
    return _library_file(Path(project)) is not None


def ungroup_convolutions(keras_model):
    """The same model with every grouped convolution replaced by a plain ``Conv2D``/``QConv2D``.

    hls4ml 1.3's Keras parser ignores a convolution's ``groups`` (it reads the kernel as if the
    layer were not grouped, giving wrong results) and knows no subclasses such as
    ``src.model.GroupedConv2D``, so each grouped layer becomes its nearest ``QConv2D`` or
    ``Conv2D`` base class with a block-diagonal ``(k_h, k_w, C_in, C_out)`` kernel, zeros outside
    the groups: the same function, with ``g`` times the multiplications, of which hls4ml's Latency
    strategy drops the zero ones (its ``multiplier_limit`` subtracts them). Exact for element-wise
    kernel quantizers such as ``quantized_bits(16, 6, alpha=1)``. A model without grouped
    convolutions is returned as is.
    """
    from .backend import keras

    grouped = {layer.name: layer for layer in keras_model.layers if getattr(layer, "groups", 1) > 1}
    if not grouped:
        return keras_model

    def clone(layer):
        config = layer.get_config()
        if layer.name not in grouped:
            return type(layer).from_config(config)
        config["groups"] = 1
        base = next((c for c in type(layer).__mro__ if c.__name__ in ("QConv2D", "Conv2D")), None)
        if base is None:
            raise ValueError(f"cannot ungroup layer {layer.name!r} of type {type(layer).__name__}")
        return base.from_config(config)

    plain = keras.models.clone_model(keras_model, clone_function=clone)
    for layer in keras_model.layers:
        weights = layer.get_weights()
        if layer.name in grouped:
            weights[0] = _block_diagonal(weights[0], layer.groups)
        plain.get_layer(layer.name).set_weights(weights)
    return plain


def _block_diagonal(kernel: np.ndarray, groups: int) -> np.ndarray:
    """``(k_h, k_w, C_in / g, C_out)`` grouped kernel as a ``(k_h, k_w, C_in, C_out)`` full one."""
    kh, kw, c_in_g, c_out = kernel.shape
    c_out_g = c_out // groups
    full = np.zeros((kh, kw, c_in_g * groups, c_out), dtype=kernel.dtype)
    for g in range(groups):
        outs = slice(g * c_out_g, (g + 1) * c_out_g)
        full[:, :, g * c_in_g : (g + 1) * c_in_g, outs] = kernel[:, :, :, outs]
    return full


def _merge(target: dict, entries: dict) -> None:
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


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
            from . import backend  # noqa: F401  (keras alias before hls4ml)
            from .hls_instancenorm import register

            register()
            import hls4ml

            build = hls4ml.converters.link_existing_project(str(project_dir)).compile
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
            context = multiprocessing.get_context(start_method)
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
                futures = {pool.submit(_run, lib, x[s : s + batch_size]): s for s in starts}
                for future in as_completed(futures):
                    s = futures[future]
                    parts[s] = future.result()
                    bar.update(len(parts[s][0]))

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

