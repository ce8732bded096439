"""Converter of the public Top Tagging reference dataset into our schema-1 jet files.

The reference files are pandas HDF5 tables (key ``table``) with the constituents' four-
vectors ``E_i, PX_i, PY_i, PZ_i`` (pT ordered, zero padded) and the label ``is_signal_new``
(1 = top). Every row is validated before anything is written: a non-finite value or a label
outside {0, 1} is an error naming the first bad row and column; a jet without constituents
is an error unless it is explicitly skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config import MAX_CONSTITUENTS
from ..files import check_output
from .datasets import FIELDS, DataError, open_writer
from .preprocess import four_vectors_to_ptetaphi, jet_images

LABEL = "is_signal_new"
COMPONENTS = ("E", "PX", "PY", "PZ")


def read_table(source: Path) -> pd.DataFrame:
    """The reference table of ``source``, with a one-line error for anything else."""
    source = Path(source)
    if not source.is_file():
        raise DataError(f"{source}: file not found")
    try:
        frame = pd.read_hdf(source, key="table")
    except Exception as exc:  # pandas/PyTables raise many types for a foreign or broken file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "HDF5 error back trace" in reason or "unable to open" in reason.lower():
            reason = "not a readable HDF5 file (empty, truncated or another format)"
        raise DataError(f"{source}: not a Top Tagging pandas HDF5 file with key 'table' "
                        f"({reason})") from None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{source}: key 'table' holds no table")
    return frame


def _constituent_count(frame: pd.DataFrame, source: Path) -> int:
    n_const = sum(1 for c in frame.columns if str(c).startswith("PX_"))
    needed = [f"{v}_{i}" for i in range(n_const) for v in COMPONENTS]
    missing = [c for c in needed + [LABEL] if c not in frame.columns]
    if n_const == 0 or missing:
        raise DataError(f"{source}: missing columns {missing[:4] or ['PX_0']}")
    if len(frame) == 0:
        raise DataError(f"{source}: empty sample (0 jets)")
    return n_const


def validate(frame: pd.DataFrame, n_const: int, source: Path) -> np.ndarray:
    """Check every row; returns a boolean mask of the jets without constituents.

    Raises :class:`DataError` naming the first row and column holding a non-finite value,
    or the first row whose label is not 0 or 1.
    """
    columns = [f"{v}_{i}" for i in range(n_const) for v in COMPONENTS] + [LABEL]
    values = frame[columns].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{source}: row {row} (index {frame.index[row]}), column "
                        f"{columns[col]}: value {values[row, col]} is not finite")
    labels = values[:, -1]
    wrong = np.flatnonzero((labels != 0) & (labels != 1))
    if wrong.size:
        raise DataError(f"{source}: row {wrong[0]} (index {frame.index[wrong[0]]}), column "
                        f"{LABEL}: label {labels[wrong[0]]:g} is not 0 or 1")
    energies = values[:, 0:-1:len(COMPONENTS)]
    return ~(energies > 0).any(axis=1)


def _jets(part: pd.DataFrame, n_const: int) -> dict[str, np.ndarray]:
    """Schema-1 arrays of a chunk of rows; the jet axis is the sum of the constituents."""
    n_keep = min(n_const, MAX_CONSTITUENTS)
    cols = {v: part[[f"{v}_{i}" for i in range(n_const)]].to_numpy(np.float64)
            for v in COMPONENTS}
    pt, eta, phi = four_vectors_to_ptetaphi(cols["E"], cols["PX"], cols["PY"], cols["PZ"])
    jet = {v: cols[v].sum(axis=1) for v in cols}
    jet_pt, jet_eta, jet_phi = four_vectors_to_ptetaphi(jet["E"], jet["PX"], jet["PY"], jet["PZ"])
    mass2 = jet["E"] ** 2 - jet["PX"] ** 2 - jet["PY"] ** 2 - jet["PZ"] ** 2
    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_keep]
    pt, eta, phi = (np.take_along_axis(a, order, axis=1) for a in (pt, eta, phi))
    constituents = np.zeros((len(part), MAX_CONSTITUENTS, 3), np.float32)
    constituents[:, :n_keep] = np.stack([pt, eta, phi], axis=-1)
    return {
        "images": jet_images(pt, eta, phi, jet_eta, jet_phi),
        "constituents": constituents,
        "jet_pt": jet_pt.astype(np.float32),
        "jet_eta": jet_eta.astype(np.float32),
        "jet_phi": jet_phi.astype(np.float32),
        "jet_mass": np.sqrt(np.clip(mass2, 0, None)).astype(np.float32),
        "n_constituents": (pt > 0).sum(axis=1).astype(np.int32),
        "labels": part[LABEL].to_numpy().astype(np.int8),
    }


def convert_toptag(source: Path, out: Path, skip_empty: bool = False,
                   chunk: int = 50_000) -> dict[str, int]:
    """Convert a Top Tagging reference file to schema 1; returns ``{"jets", "skipped_empty"}``.

    Constituents are read from ``E_i, PX_i, PY_i, PZ_i``; images use the generator's
    preprocessing. Jets without constituents are an error unless ``skip_empty``; the number
    skipped is stored in the file's ``skipped_empty`` attribute.
    """
    source, out = Path(source), Path(out)
    check_output(out, inputs=[source])
    frame = read_table(source)
    n_const = _constituent_count(frame, source)
    empty = validate(frame, n_const, source)
    if empty.any() and not skip_empty:
        first = int(np.flatnonzero(empty)[0])
        raise DataError(f"{source}: {int(empty.sum())} jet(s) have no constituents (first at "
                        f"row {first}); pass --skip-empty to leave them out")
    frame = frame[~empty]
    if len(frame) == 0:
        raise DataError(f"{source}: no jet with constituents")
    attrs = {"process": "toptag-reference", "generator": f"converted from {source.name}",
             "seeds": "[]", "skipped_empty": int(empty.sum()),
             "settings": {"source": str(source), "constituents": n_const}}
    with open_writer(out, len(frame), list(FIELDS), attrs) as writer:
        for start in range(0, len(frame), chunk):
            writer.write(start, _jets(frame.iloc[start:start + chunk], n_const))
    return {"jets": len(frame), "skipped_empty": int(empty.sum())}
