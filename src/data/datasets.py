"""HDF5 jet files (schema version 1): atomic writing and validating reading.

A file holds one sample: ``images`` (N, 40, 40) of raw pixel pT in GeV and, optionally,
``constituents`` (N, 200, 3) as (pt, eta, phi), ``jet_pt``, ``jet_eta``, ``jet_phi``,
``jet_mass``, ``n_constituents`` and ``labels``; attributes record the process, the
generator, the seeds and every setting used. Readers need only ``images``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ..config import MAX_CONSTITUENTS, N_PIXELS
from ..files import atomic_file
from .preprocess import normalize, window_images

SCHEMA_VERSION = 1
#: What :func:`read_window_images` reads: the constituents and the jet axes.
WINDOW_FIELDS = ("constituents", "jet_eta", "jet_phi")
FIELDS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "images": (np.dtype("float32"), (N_PIXELS, N_PIXELS)),
    "constituents": (np.dtype("float32"), (MAX_CONSTITUENTS, 3)),
    "jet_pt": (np.dtype("float32"), ()),
    "jet_eta": (np.dtype("float32"), ()),
    "jet_phi": (np.dtype("float32"), ()),
    "jet_mass": (np.dtype("float32"), ()),
    "n_constituents": (np.dtype("int32"), ()),
    "labels": (np.dtype("int8"), ()),
}


class DataError(ValueError):
    """A jet file that cannot be used; the message names the file and the problem."""


class JetFileWriter:
    """Fill a schema-1 file of known length piece by piece; it appears only when complete."""

    def __init__(self, h5: h5py.File, n_jets: int, fields: Sequence[str]):
        self.h5 = h5
        for name in fields:
            dtype, shape = FIELDS[name]
            chunk = (min(max(n_jets, 1), 256), *shape)
            h5.create_dataset(name, shape=(n_jets, *shape), dtype=dtype, chunks=chunk,
                              compression="gzip", compression_opts=4, shuffle=True)

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Write ``arrays`` (all the same length) at rows ``start:start + len``."""
        for name, values in arrays.items():
            self.h5[name][start:start + len(values)] = values


@contextmanager
def open_writer(path: Path, n_jets: int, fields: Sequence[str], attrs: dict) -> Iterator[JetFileWriter]:
    """Atomic writer of a schema-1 file: a temporary file renamed into place at the end."""
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["schema_version"] = SCHEMA_VERSION
            for key, value in attrs.items():
                h5.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
            yield JetFileWriter(h5, n_jets, fields)


def write_jets(path: Path, arrays: dict[str, np.ndarray], attrs: dict) -> Path:
    """Write a whole sample at once (atomically)."""
    n_jets = len(arrays["images"])
    with open_writer(path, n_jets, list(arrays), attrs) as writer:
        writer.write(0, arrays)
    return Path(path)


def _open(path: Path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupt)") from None


def read_attrs(path: Path) -> dict:
    """File attributes, JSON-encoded values decoded."""
    with _open(path) as h5:
        attrs = {}
        for key, value in h5.attrs.items():
            try:
                attrs[key] = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                attrs[key] = value
        return attrs


def read_jets(
    path: Path, fields: Sequence[str] | None = None, index: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Read and validate a jet file; ``fields`` defaults to all present, ``index`` to all rows.

    Raises :class:`DataError` with a one-line message for a missing or truncated file,
    a missing ``images`` dataset, a wrong image shape, an empty sample, NaN or negative
    pixels, or inconsistent lengths.
    """
    path = Path(path)
    with _open(path) as h5:
        shape = _images(h5, path).shape
        if len(shape) != 3 or shape[1:] != (N_PIXELS, N_PIXELS):
            raise DataError(f"{path}: images have shape {shape}, expected (N, {N_PIXELS}, {N_PIXELS})")
        if shape[0] == 0:
            raise DataError(f"{path}: empty sample (0 jets)")
        wanted = [name for name in (fields or FIELDS) if name in h5 or name == "images"]
        out: dict[str, np.ndarray] = {}
        try:
            for name in wanted:
                if len(h5[name]) != shape[0]:
                    raise DataError(f"{path}: '{name}' has {len(h5[name])} rows, images {shape[0]}")
                data = h5[name][...]
                out[name] = data if index is None else data[np.asarray(index)]
        except OSError:
            raise DataError(f"{path}: cannot read the data (truncated or corrupt file)") from None
    images = out.get("images")
    if images is not None:
        bad = ~np.isfinite(images)
        if bad.any():
            raise DataError(f"{path}: images contain NaN or infinite pixels "
                            f"(first in jet {int(np.argwhere(bad)[0, 0])})")
        if (images < 0).any():
            raise DataError(f"{path}: images contain negative pixels "
                            f"(first in jet {int(np.argwhere(images < 0)[0, 0])})")
    return out


def read_images(path: Path, index: np.ndarray | None = None) -> np.ndarray:
    """The validated raw images (N, 40, 40) of a file."""
    return read_jets(path, ["images"], index)["images"]


def read_unit_sum(path: Path) -> np.ndarray:
    """The images of a file, each normalized to unit sum (the network input, float32);
    an empty or non-finite image after normalization is a :class:`DataError` naming it."""
    try:
        return normalize(read_images(path))
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None


def read_window_images(path: Path, index: np.ndarray | None = None) -> np.ndarray:
    """:func:`src.data.preprocess.window_images` of a file's jets (rows ``index``, default
    all), made from its constituents and jet axes; a :class:`DataError` if it has none, or a
    non-finite value or a negative pT among them (row numbers count within ``index``)."""
    data = read_jets(path, WINDOW_FIELDS, index)
    missing = [name for name in WINDOW_FIELDS if name not in data]
    if missing:
        raise DataError(f"{path}: no '{missing[0]}' dataset (window images are made from "
                        f"{', '.join(WINDOW_FIELDS)})")
    pt, eta, phi = np.moveaxis(data["constituents"], -1, 0)
    bad = np.flatnonzero(~np.isfinite(data["constituents"]).all(axis=(1, 2))
                         | ~np.isfinite(data["jet_eta"]) | ~np.isfinite(data["jet_phi"])
                         | (pt < 0).any(axis=1))
    if bad.size:
        raise DataError(f"{path}: {bad.size} jet(s) with a NaN or infinite constituent or jet "
                        f"axis, or a negative constituent pT (first at row {bad[0]})")
    return window_images(pt, eta, phi, data["jet_eta"], data["jet_phi"])


def _images(h5: h5py.File, path: Path) -> h5py.Dataset:
    """The ``images`` dataset, which must be a numeric dataset."""
    if "images" not in h5:
        raise DataError(f"{path}: no 'images' dataset")
    images = h5["images"]
    if not isinstance(images, h5py.Dataset):
        raise DataError(f"{path}: 'images' is a group, not a dataset")
    if images.dtype.kind not in "fiu":
        raise DataError(f"{path}: 'images' holds {images.dtype} values, not numbers")
    return images


def n_jets(path: Path) -> int:
    """Number of jets in a file (validating only that it opens and has images)."""
    with _open(path) as h5:
        return int(_images(h5, path).shape[0])
