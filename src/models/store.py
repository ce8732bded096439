"""One folder format, one save, one load and one cache for every model of the book.

A model folder holds ``weights.h5``, ``spec.json`` and, for a trained generative model or
classifier, ``history.json``. ``spec.json`` has the architecture (a ``model`` entry, a
:class:`src.models.spec.ModelSpec`, or a ``student`` entry, a
:class:`src.models.spec.StudentSpec`) beside the settings that made the weights (training
settings, a digest of the data, the parent model's digest) and the training wall time.
:func:`cached` compares those settings and retrains only when one of them changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import keras
from ..config import settings_hash
from ..files import atomic_file, atomic_folder
from .networks import build_model
from .spec import ModelSpec, StudentSpec
from .student import build_student

SPEC_FILE = "spec.json"
HISTORY_FILE = "history.json"
WEIGHTS_FILE = "weights.h5"
#: A fitted scoring rule beside the weights (chapter 7's recommended models): JSON with the
#: rule and ``model``, the :func:`settings_digest` of the weights it was fitted for.
SCORE_FILE = "score.json"
#: Entries of ``spec.json`` that name an architecture, and the spec class of each.
ARCHITECTURES: dict[str, type] = {"model": ModelSpec, "student": StudentSpec}
#: Fields added after models were first saved, per architecture entry: an older record
#: reads as their defaults.
_LATER_FIELDS = {"model": ("bits", "integer_bits", "input_transform"), "student": ("inputs",)}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def save(model: keras.Model, path: str | os.PathLike, history: dict | None = None,
         metadata: dict | None = None) -> Path:
    """Write ``weights.h5``, ``spec.json`` (``metadata`` + architecture) and ``history.json``.

    The architecture entry comes from ``model.spec`` (``model`` for a :class:`ModelSpec`,
    ``student`` for a :class:`StudentSpec`). The folder is written by
    :func:`src.files.atomic_folder`, so ``path`` is either the old complete model or the new
    one. ``history`` defaults to the history of the last :func:`src.models.train.fit` call.
    """
    spec = getattr(model, "spec", None)
    entry = next((key for key, cls in ARCHITECTURES.items() if isinstance(spec, cls)), None)
    if entry is None:
        raise ValueError(f"cannot save to {path}: the model carries no ModelSpec or StudentSpec")
    record = {**(metadata or {}), entry: asdict(spec)}
    with atomic_folder(path) as tmp:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        _write_json(tmp / SPEC_FILE, record)
        history = history if history is not None else getattr(model, "training_history", None)
        if history is not None:
            _write_json(tmp / HISTORY_FILE, {k: [float(v) for v in vals]
                                             for k, vals in history.items()})
    return Path(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def read_record(path: str | os.PathLike) -> dict:
    """Contents of a saved model's ``spec.json`` (a one-line error naming the file if it is
    missing or not JSON).

    A ``model`` entry written before the quantization fields or the input transform existed
    reads as a float spec on plain pixels, a ``student`` entry written before ``inputs``
    existed as a student of preprocessed images (the fields get their defaults), so older
    caches still match their settings.
    """
    spec_path = Path(path) / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(f"no saved model at {path} ({SPEC_FILE} missing)")
    record = _read_json(spec_path)
    if not isinstance(record, dict):
        raise ValueError(f"{spec_path}: expected a JSON object")
    for entry, names in _LATER_FIELDS.items():
        if isinstance(record.get(entry), dict):
            cls = ARCHITECTURES[entry]
            record[entry] = {**{name: getattr(cls, name) for name in names}, **record[entry]}
    return record


def load(path: str | os.PathLike, history: bool = True) -> keras.Model:
    """Model written by :func:`save` (any kind, the student included); with
    ``training_history`` when it was stored and ``history`` is true.

    Every problem is a one-line error naming the file: a missing or corrupt ``spec.json``,
    an unknown architecture, unreadable ``weights.h5`` or ``history.json``.
    """
    path = Path(path)
    record = read_record(path)
    try:
        if "student" in record:
            model = build_student(StudentSpec.from_dict(record["student"]))
        elif "model" in record:
            model = build_model(ModelSpec.from_dict(record["model"]))
        else:
            raise ValueError(f"names no architecture (no {' or '.join(ARCHITECTURES)} entry)")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path / SPEC_FILE}: {exc}") from None
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: missing")
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # h5py and Keras raise many types for a broken weights file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{weights}: cannot load the weights ({reason})") from None
    if history and (path / HISTORY_FILE).is_file():
        model.training_history = _read_json(path / HISTORY_FILE)
    if (path / SCORE_FILE).is_file():
        model.score_rule = read_score_rule(path)
    return model


def read_score_rule(path: str | os.PathLike) -> dict:
    """The scoring rule stored beside a model, checked to belong to its weights."""
    rule = _read_json(Path(path) / SCORE_FILE)
    if not isinstance(rule, dict) or rule.get("model") != settings_digest(path):
        raise ValueError(f"{Path(path) / SCORE_FILE}: fitted for other weights than "
                         f"{path}; refit it (chapter 7 writes it)")
    return rule


def write_score_rule(path: str | os.PathLike, rule: dict) -> Path:
    """Store ``rule`` beside the model at ``path``, tagged with its weights' digest."""
    target = Path(path) / SCORE_FILE
    with atomic_file(target) as tmp:
        _write_json(tmp, {**rule, "model": settings_digest(path)})
    return target


def data_fingerprint(*arrays: np.ndarray | None) -> str:
    """Short digest of the shapes, dtypes and contents of some arrays."""
    digest = hashlib.sha256()
    for a in arrays:
        if a is None:
            digest.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def settings_digest(path: str | os.PathLike) -> str:
    """Digest of the settings that made a saved model (the parent of a fine-tune)."""
    record = read_record(path)
    return settings_hash({k: record.get(k) for k in ("model", "train", "data", "init")})


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def cached(path: str | os.PathLike, settings: dict[str, Any], make: Callable[[], keras.Model],
           metadata: dict[str, Any] | None = None) -> keras.Model:
    """:func:`load` ``path`` if the model there was made with ``settings``, else ``make()``.

    A fresh model is saved with :func:`save`: the ``settings`` other than ``model`` (which
    is written from the model itself), ``metadata`` (stored, not compared) and
    ``train_seconds``, the wall time of ``make``. Settings are compared in their JSON form
    against :func:`read_record`.
    """
    path = Path(path)
    settings = _jsonable(settings)
    try:
        record = read_record(path)
    except (FileNotFoundError, ValueError):
        record = None
    if record is not None and all(record.get(k) == v for k, v in settings.items()):
        return load(path)
    start = time.perf_counter()
    model = make()
    stored = {k: v for k, v in settings.items() if k != "model"}
    save(model, path, metadata={**stored, **(metadata or {}),
                                "train_seconds": round(time.perf_counter() - start, 1)})
    return model
