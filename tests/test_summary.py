"""Sample-level summaries of the data chapter."""

from __future__ import annotations

import numpy as np
import pytest

from src.data import summary
from src.data.splits import split_indices


def _jets() -> dict[str, dict[str, np.ndarray]]:
    return {p: {"images": np.zeros((n, 40, 40), np.float32),
                "n_constituents": np.arange(n, dtype=np.int32),
                "jet_mass": np.arange(n, dtype=np.float32) + k}
            for k, (p, n) in enumerate((("qcd", 8), ("top", 5)))}


def test_sample_table_rows_and_rounding():
    attrs = {p: {"events": 100 * n, "acceptance": 0.123456, "settings": {"detector": "eflow"}}
             for p, n in (("qcd", 1), ("top", 2))}
    table = summary.sample_table(_jets(), attrs)
    assert list(table.index) == ["qcd", "top"] and table.index.name == "sample"
    assert table.loc["top", "jets"] == 5 and table.loc["top", "events generated"] == 200
    assert table.loc["qcd", "acceptance"] == 0.123
    assert table.loc["qcd", "mean constituents"] == 3.5
    assert table.loc["top", "detector"] == "eflow"


def test_histogram_peak_is_the_centre_of_the_fullest_bin():
    values = np.array([171.0, 172.0, 174.0, 80.0, 260.0])
    assert summary.histogram_peak(values, np.arange(0, 305, 5)) == 172.5
    # ties: the first fullest bin
    assert summary.histogram_peak([1.0, 7.0], [0, 5, 10]) == 2.5


def test_test_values_follow_the_shared_split():
    jets = _jets()
    out = summary.test_values(jets, "jet_mass", seed=3)
    for process, data in jets.items():
        test = split_indices(len(data["images"]), 3).test
        np.testing.assert_array_equal(out[process], data["jet_mass"][test])
    assert len(out["qcd"]) == 2  # 25% of 8 jets


def test_border_profile_finds_a_bright_frame():
    images = np.full((3, 8, 8), 0.01)
    images[:, 0, :] = images[:, -1, :] = images[:, :, 0] = images[:, :, -1] = 0.05
    images[:, 2:6, 2:6] = 0.5
    profile = summary.border_profile(images, rings=3)
    np.testing.assert_allclose(profile, [0.05, 0.01, 0.5])
    with pytest.raises(ValueError, match="pixels wide"):
        summary.border_profile(images, rings=5)
