"""Sample-level summaries for the data chapter: the generated samples read whole, one table
row per sample, the peak of a distribution and one field of every sample's test split.

Everything works on the in-memory dictionaries :func:`src.data.datasets.read_jets` returns
(field name -> per-jet array), so the chapter reads each file once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..config import PROCESSES, Profile
from .datasets import read_attrs, read_jets
from .samples import ensure_sample
from .splits import split_indices


def load_samples(profile: Profile, processes: Iterable[str] = PROCESSES,
                 ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
    """Every field and the file attributes of each process's sample, generated first if
    missing: ``(jets, attrs)``, both keyed by process."""
    paths = {process: ensure_sample(profile, process, progress=False) for process in processes}
    return ({process: read_jets(path) for process, path in paths.items()},
            {process: read_attrs(path) for process, path in paths.items()})


def sample_table(jets: Mapping[str, Mapping[str, np.ndarray]],
                 attrs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per sample: jets kept, events generated, acceptance (kept / generated, 3
    decimals), mean number of constituents (1 decimal) and the detector simulation."""
    table = pd.DataFrame({
        "jets": {p: len(j["images"]) for p, j in jets.items()},
        "events generated": {p: attrs[p]["events"] for p in jets},
        "acceptance": {p: round(attrs[p]["acceptance"], 3) for p in jets},
        "mean constituents": {p: round(float(j["n_constituents"].mean()), 1)
                              for p, j in jets.items()},
        "detector": {p: attrs[p]["settings"]["detector"] for p in jets},
    })
    table.index.name = "sample"
    return table


def histogram_peak(values: Any, bins: Any) -> float:
    """Centre of the fullest bin of the histogram of ``values`` (same unit as ``values``);
    the first one when several bins tie."""
    counts, edges = np.histogram(np.asarray(values), bins=bins)
    i = int(np.argmax(counts))
    return float(0.5 * (edges[i] + edges[i + 1]))


def test_values(jets: Mapping[str, Mapping[str, np.ndarray]], field: str,
                seed: int) -> dict[str, np.ndarray]:
    """``field`` of the test-split jets of every sample (the split of
    :func:`src.data.splits.split_indices` with ``seed``, as every chapter uses it)."""
    return {process: data[field][split_indices(len(data["images"]), seed).test]
            for process, data in jets.items()}


def border_profile(images: Any, rings: int = 3) -> np.ndarray:
    """Mean pixel value of each of the ``rings`` outermost square rings of pixels, over the
    images (N, H, W): element 0 is the outer frame, element k the ring k pixels inside it.

    A reconstruction whose frame is much brighter than the ring inside it has an edge
    artefact (e.g. from the zero padding of a last convolution); inputs show no such step.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3 or len(x) == 0 or 2 * rings > min(x.shape[1:]):
        raise ValueError(f"need a non-empty (N, H, W) stack at least {2 * rings} pixels wide, "
                         f"got shape {x.shape}")
    mean = x.mean(axis=0)
    out = []
    for k in range(rings):
        inner = mean[k:mean.shape[0] - k, k:mean.shape[1] - k]
        core = inner[1:-1, 1:-1]
        out.append((inner.sum() - core.sum()) / (inner.size - core.size))
    return np.array(out)
