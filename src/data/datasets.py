"""HDF5 jet files (schema version 1): atomic writing, validating reading, converter.

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
from .preprocess import four_vectors_to_ptetaphi, jet_images

SCHEMA_VERSION = 1
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
        if "images" not in h5:
            raise DataError(f"{path}: no 'images' dataset")
        shape = h5["images"].shape
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


def n_jets(path: Path) -> int:
    """Number of jets in a file (validating only that it opens and has images)."""
    with _open(path) as h5:
        if "images" not in h5:
            raise DataError(f"{path}: no 'images' dataset")
        return int(h5["images"].shape[0])


def convert_toptag(source: Path, out: Path, chunk: int = 50_000) -> Path:
    """Convert the public Top Tagging reference file (pandas HDF5, key ``table``) to schema 1.

    Constituents are read from ``E_i, PX_i, PY_i, PZ_i``; the jet axis is the sum of the
    constituent four-vectors; images use the generator's preprocessing.
    """
    import pandas as pd

    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: file not found")
    try:
        frame = pd.read_hdf(source, key="table")
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{source}: not a Top Tagging pandas HDF5 file with key 'table' ({exc})") from None
    n_const = sum(1 for c in frame.columns if str(c).startswith("PX_"))
    needed = [f"{v}_{i}" for i in range(n_const) for v in ("E", "PX", "PY", "PZ")]
    missing = [c for c in needed + ["is_signal_new"] if c not in frame.columns]
    if n_const == 0 or missing:
        raise DataError(f"{source}: missing columns {missing[:4] or ['PX_0']}")
    if len(frame) == 0:
        raise DataError(f"{source}: empty sample (0 jets)")

    n_total = len(frame)
    n_keep = min(n_const, MAX_CONSTITUENTS)
    attrs = {"process": "toptag-reference", "generator": f"converted from {source.name}",
             "seeds": "[]", "settings": {"source": str(source), "constituents": n_const}}
    fields = list(FIELDS)
    with open_writer(out, n_total, fields, attrs) as writer:
        for start in range(0, n_total, chunk):
            part = frame.iloc[start:start + chunk]
            cols = {v: part[[f"{v}_{i}" for i in range(n_const)]].to_numpy(np.float64)
                    for v in ("E", "PX", "PY", "PZ")}
            pt, eta, phi = four_vectors_to_ptetaphi(cols["E"], cols["PX"], cols["PY"], cols["PZ"])
            jet = {v: cols[v].sum(axis=1) for v in cols}
            jet_pt, jet_eta, jet_phi = four_vectors_to_ptetaphi(jet["E"], jet["PX"], jet["PY"], jet["PZ"])
            mass2 = jet["E"] ** 2 - jet["PX"] ** 2 - jet["PY"] ** 2 - jet["PZ"] ** 2
            order = np.argsort(-pt, axis=1, kind="stable")[:, :n_keep]
            pt, eta, phi = (np.take_along_axis(a, order, axis=1) for a in (pt, eta, phi))
            constituents = np.zeros((len(part), MAX_CONSTITUENTS, 3), np.float32)
            constituents[:, :n_keep] = np.stack([pt, eta, phi], axis=-1)
            writer.write(start, {
                "images": jet_images(pt, eta, phi, jet_eta, jet_phi),
                "constituents": constituents,
                "jet_pt": jet_pt.astype(np.float32),
                "jet_eta": jet_eta.astype(np.float32),
                "jet_phi": jet_phi.astype(np.float32),
                "jet_mass": np.sqrt(np.clip(mass2, 0, None)).astype(np.float32),
                "n_constituents": (pt > 0).sum(axis=1).astype(np.int32),
                "labels": part["is_signal_new"].to_numpy().astype(np.int8),
            })
    return Path(out)
