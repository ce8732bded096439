"""``convert-toptag``: the public reference format to schema 1, every row validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.cli import main
from src.data.datasets import FIELDS, DataError, read_attrs, read_jets
from src.data.toptag import convert_toptag


def _reference_frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Generated constituents in the public dataset's pandas layout (massless)."""
    pt, eta, phi = (arrays["constituents"][..., k].astype(np.float64) for k in range(3))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    columns = {}
    for i in range(pt.shape[1]):
        for name, values in (("E", e), ("PX", px), ("PY", py), ("PZ", pz)):
            columns[f"{name}_{i}"] = values[:, i]
    for name in ("truthE", "truthPX", "truthPY", "truthPZ", "ttv"):
        columns[name] = np.zeros(len(pt))
    columns["is_signal_new"] = arrays["labels"].astype(np.float64)
    return pd.DataFrame(columns)


@pytest.fixture
def reference(generated):
    arrays = {k: np.concatenate([generated["qcd"][k][:60], generated["top"][k][:40]])
              for k in FIELDS}
    return arrays, _reference_frame(arrays)


def _write(frame: pd.DataFrame, path) -> str:
    frame.to_hdf(path, key="table", mode="w")
    return str(path)


def test_converter_reproduces_generator_images(tmp_path, reference):
    arrays, frame = reference
    counts = convert_toptag(_write(frame, tmp_path / "ref.h5"), tmp_path / "out.h5", chunk=32)
    assert counts == {"jets": 100, "skipped_empty": 0}
    back = read_jets(tmp_path / "out.h5")
    np.testing.assert_allclose(back["images"], arrays["images"], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(back["labels"], arrays["labels"])
    np.testing.assert_array_equal(back["n_constituents"], arrays["n_constituents"])
    np.testing.assert_allclose(back["constituents"], arrays["constituents"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("column, value, message", [
    ("PX_3", np.nan, "row 7 (index 7), column PX_3: value nan is not finite"),
    ("E_0", np.inf, "row 7 (index 7), column E_0: value inf is not finite"),
    ("is_signal_new", np.nan, "row 7 (index 7), column is_signal_new: value nan is not finite"),
    ("is_signal_new", 7.0, "row 7 (index 7), column is_signal_new: label 7 is not 0 or 1"),
])
def test_a_bad_cell_is_an_error_naming_row_and_column(tmp_path, reference, capsys, column,
                                                      value, message):
    _, frame = reference
    frame.loc[7, column] = value
    source = _write(frame, tmp_path / "ref.h5")
    out = tmp_path / "out.h5"
    assert main(["convert-toptag", source, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_jets_without_constituents_need_skip_empty(tmp_path, reference, capsys):
    arrays, frame = reference
    constituent_columns = [c for c in frame.columns if c.split("_")[0] in ("E", "PX", "PY", "PZ")]
    frame.loc[[3, 50], constituent_columns] = 0.0
    source = _write(frame, tmp_path / "ref.h5")
    out = tmp_path / "out.h5"
    assert main(["convert-toptag", source, "--out", str(out)]) == 2
    assert "2 jet(s) have no constituents (first at row 3)" in capsys.readouterr().err
    assert not out.exists()
    assert main(["convert-toptag", source, "--out", str(out), "--skip-empty"]) == 0
    assert "98 jets; skipped 2 jet(s) without constituents" in capsys.readouterr().out
    assert read_attrs(out)["skipped_empty"] == 2
    kept = np.setdiff1d(np.arange(100), [3, 50])
    np.testing.assert_allclose(read_jets(out)["images"], arrays["images"][kept], rtol=1e-5,
                               atol=1e-4)


@pytest.mark.parametrize("content", [b"", b"jet,pt\n1,2\n", "truncated"])
def test_a_file_that_is_not_a_table_is_one_clear_line(tmp_path, reference, capsys, content):
    source = tmp_path / "in.h5"
    if content == "truncated":
        data = open(_write(reference[1], tmp_path / "whole.h5"), "rb").read()
        source.write_bytes(data[: len(data) // 2])
    else:
        source.write_bytes(content)
    assert main(["convert-toptag", str(source), "--out", str(tmp_path / "out.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{source}: not a Top Tagging pandas HDF5 file with key 'table'" in err
    assert "HDF5 error back trace" not in err


def test_wrong_columns_and_missing_file(tmp_path):
    path = tmp_path / "wrong.h5"
    pd.DataFrame({"x": [1.0]}).to_hdf(path, key="table", mode="w")
    with pytest.raises(DataError, match="missing columns"):
        convert_toptag(path, tmp_path / "out.h5")
    with pytest.raises(DataError, match="file not found"):
        convert_toptag(tmp_path / "absent.h5", tmp_path / "out.h5")
