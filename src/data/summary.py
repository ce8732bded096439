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
