"""HDF5 round trip, validation of bad input, splits and the reference-format converter."""

import h5py
import numpy as np
import pytest

from src.config import Profile
from src.data import splits
from src.data.datasets import (
    FIELDS,
    WINDOW_FIELDS,
    DataError,
    read_attrs,
    read_images,
    read_jets,
    read_window_images,
    write_jets,
)
from src.data.preprocess import window_images
from src.data.splits import load_split, split, split_indices, split_window_images


def _arrays(generated):
    return generated["top"]


def test_round_trip_keeps_every_field(tmp_path, generated):
    arrays = _arrays(generated)
    path = write_jets(tmp_path / "top.h5", arrays, {"process": "top", "settings": {"a": 1}})
    back = read_jets(path)
    assert set(back) == set(FIELDS)
    for name, values in arrays.items():
        np.testing.assert_array_equal(back[name], values)
        assert back[name].dtype == FIELDS[name][0]
    attrs = read_attrs(path)
    assert attrs["schema_version"] == 1 and attrs["settings"] == {"a": 1}
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def _write_images(path, images):
    with h5py.File(path, "w") as h5:
        h5["images"] = images


@pytest.mark.parametrize(
    "images, message",
    [
        (np.ones((3, 32, 32), np.float32), r"shape \(3, 32, 32\), expected \(N, 40, 40\)"),
        (np.zeros((0, 40, 40), np.float32), "empty sample"),
        (np.where(np.eye(40)[None] > 0, np.nan, 1.0).astype(np.float32), "NaN"),
        (-np.ones((2, 40, 40), np.float32), "negative pixels"),
    ],
)
def test_bad_images_are_rejected_with_one_line(tmp_path, images, message):
    path = tmp_path / "bad.h5"
    _write_images(path, images)
    with pytest.raises(DataError, match=message) as info:
        read_images(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_truncated_and_imageless_files(tmp_path, generated):
    with pytest.raises(DataError, match="file not found"):
        read_images(tmp_path / "nope.h5")
    path = write_jets(tmp_path / "ok.h5", _arrays(generated), {})
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_images(truncated)
    with h5py.File(tmp_path / "noimg.h5", "w") as h5:
        h5["labels"] = np.zeros(3)
    with pytest.raises(DataError, match="no 'images' dataset"):
        read_images(tmp_path / "noimg.h5")


def test_split_is_seeded_disjoint_and_75_25():
    a, b = split_indices(1000, seed=3), split_indices(1000, seed=3)
    np.testing.assert_array_equal(a.test, b.test)
    assert len(a.test) == 250 and len(a.train) + len(a.val) == 750
    assert len(np.intersect1d(a.train, a.test)) == 0 and len(np.intersect1d(a.val, a.test)) == 0
    assert len(np.union1d(np.union1d(a.train, a.val), a.test)) == 1000
    assert not np.array_equal(split_indices(1000, seed=4).test, a.test)


def test_load_split_normalizes(tmp_path, generated):
    path = write_jets(tmp_path / "qcd.h5", generated["qcd"], {})
    part = load_split(path, seed=1, part="test", fields=("images", "jet_mass"))
    np.testing.assert_allclose(part["images"].sum((1, 2)), 1.0, rtol=1e-5)
    assert len(part["jet_mass"]) == len(part["images"]) == 75




def test_window_images_of_a_split_part_are_its_jets_in_order(tmp_path, generated, monkeypatch):
    path = write_jets(tmp_path / "qcd.h5", generated["qcd"], {})
    monkeypatch.setattr(splits, "ensure_sample", lambda profile, process, progress: path)
    profile = Profile(name="tiny", seed=1, n_jets={"qcd": 300}, shard_size=300)
    window = split_window_images(profile, "qcd", "val")
    part = split(profile, "qcd", "val", fields=("images", "constituents", "jet_eta", "jet_phi"))
    assert window.shape == part["images"].shape == (len(split_indices(300, 1).val), 40, 40)
    pt, eta, phi = np.moveaxis(part["constituents"], -1, 0)
    np.testing.assert_array_equal(window, window_images(pt, eta, phi, part["jet_eta"],
                                                        part["jet_phi"]))
    np.testing.assert_array_equal(window, read_window_images(path, split_indices(300, 1).val))


def test_window_images_need_constituents(tmp_path, generated):
    path = write_jets(tmp_path / "images.h5", {"images": generated["qcd"]["images"][:3]}, {})
    with pytest.raises(DataError, match="no 'constituents' dataset") as info:
        read_window_images(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("field", "row", "value"), [("constituents", 1, np.nan),
                                                     ("jet_phi", 2, np.inf),
                                                     ("constituents", 0, -5.0)])
def test_window_images_refuse_nan_or_negative_constituents(tmp_path, generated, field, row,
                                                           value):
    jets = {name: np.array(generated["qcd"][name][:3]) for name in ("images", *WINDOW_FIELDS)}
    if field == "constituents":
        jets[field][row, 0, 0] = value  # the leading constituent's pT
    else:
        jets[field][row] = value
    path = write_jets(tmp_path / "bad.h5", jets, {})
    with pytest.raises(DataError, match=f"first at row {row}") as info:
        read_window_images(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
