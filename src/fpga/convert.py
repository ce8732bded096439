"""hls4ml conversion of (Q)Keras models into HLS projects, one folder per setting.

:func:`convert` writes an hls4ml project: precision taken from the QKeras quantizers, the
custom ``InstanceNormalization`` registered through :mod:`src.fpga.instancenorm`, grouped
convolutions rewritten as plain ones. :func:`ensure_project` reuses a written (and compiled)
project while the model and the settings stay the same; :data:`BOOK_SETTINGS` are the
settings of the book's two firmware models and :func:`ensure_book_project` the one place that
applies them. :func:`quiet` silences hls4ml's progress printing.

Multi-output models: hls4ml 1.3 converts a Keras v2 model with several outputs (e.g. the
encoder's ``z_categorical``, ``z_mean``, ``z_var`` heads) as is; the top function gets one
output array per head, in the order of ``keras_model.outputs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..backend import keras  # aliases keras to tf_keras before hls4ml is imported

# isort: split
import hls4ml
from hls4ml.backends.fpga.fpga_types import APTypeConverter
from hls4ml.model import ModelGraph

from .devices import CLOCK_NS, U250_PART
from .instancenorm import HEADER, register

#: File in a project folder recording what :func:`ensure_project` wrote it from.
RECORD_FILE = "conversion.json"
_IO_TYPES = ("io_parallel", "io_stream")
_STRATEGIES = ("Latency", "Resource")
#: Conversion settings of the book's firmware models (keyword arguments of :func:`convert`).
#: Inputs are unit-sum images in [0, 1): ``ap_ufixed<16,0>`` keeps all 16 bits fractional.
#: The reduced encoder's unquantized results get the study's ``ap_fixed<16,6>``; chapter 6
#: replaces them by profiled types (:mod:`src.fpga.exact`) through a ``layer_config``.
BOOK_SETTINGS: dict[str, dict[str, Any]] = {
    "reduced encoder": {
        "part": U250_PART, "clock_period": CLOCK_NS, "input_precision": "ap_ufixed<16,0>",
        "result_precision": "ap_fixed<16,6>",
    },
    "student": {"part": U250_PART, "clock_period": CLOCK_NS, "input_precision": "ap_ufixed<16,0>"},
}
#: The implementation the book emulates and estimates first: every layer fully unrolled.
REFERENCE_IMPLEMENTATION: dict[str, Any] = {"strategy": "Latency", "reuse_factor": 1}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence hls4ml's progress printing (stdout) inside the ``with`` block; warnings and
    errors (stderr, exceptions) still come through."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def convert(
    keras_model,
    output_dir: str | Path,
    part: str = U250_PART,
    clock_period: float = CLOCK_NS,
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

    register()
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


def ensure_book_project(keras_model, name: str, output_dir: str | Path,
                        io_type: str = "io_parallel",
                        layer_config: dict[str, dict] | None = None) -> tuple[ModelGraph, bool]:
    """:func:`ensure_project` of one of the book's models (``name``, a key of
    :data:`BOOK_SETTINGS`) with its settings and :data:`REFERENCE_IMPLEMENTATION`, quietly.

    ``layer_config`` entries (e.g. per-layer ``ReuseFactor``) are added to the book's own
    per-layer entries. Returns ``(hls_model, reused)``.
    """
    if name not in BOOK_SETTINGS:
        raise ValueError(f"unknown book model {name!r} (choose from {', '.join(BOOK_SETTINGS)})")
    settings = {"io_type": io_type, **REFERENCE_IMPLEMENTATION, **BOOK_SETTINGS[name]}
    if layer_config:
        settings["layer_config"] = {**settings.get("layer_config", {}), **layer_config}
    with quiet():
        return ensure_project(keras_model, output_dir, **settings)


def _digest(keras_model, settings: dict[str, Any]) -> str:
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


def ungroup_convolutions(keras_model):
    """The same model with every grouped convolution replaced by a plain ``Conv2D``/``QConv2D``.

    hls4ml 1.3's Keras parser ignores a convolution's ``groups`` (it reads the kernel as if the
    layer were not grouped, giving wrong results) and knows no subclasses such as
    ``src.models.layers.GroupedConv2D``, so each grouped layer becomes its nearest ``QConv2D`` or
    ``Conv2D`` base class with a block-diagonal ``(k_h, k_w, C_in, C_out)`` kernel, zeros outside
    the groups: the same function, with ``g`` times the multiplications, of which hls4ml's Latency
    strategy drops the zero ones (its ``multiplier_limit`` subtracts them). Exact for element-wise
    kernel quantizers such as ``quantized_bits(16, 6, alpha=1)``. A model without grouped
    convolutions is returned as is.
    """
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


