"""``python -m src score``: one CSV row per image, the contract's columns, clear errors."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from fakes import TINY_SPEC

from src.analysis.scores import SCORE_COLUMNS, score_images
from src.backend import seed_everything
from src.cli import main
from src.data.datasets import write_jets
from src.data.preprocess import normalize
from src.models.networks import build_model
from src.models.spec import ModelSpec
from src.models.store import save

TINY = ModelSpec(**TINY_SPEC)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    seed_everything(0)
    model = build_model(TINY)
    return model, save(model, tmp_path_factory.mktemp("models") / "jointvae")


@pytest.fixture
def jet_file(generated, tmp_path):
    images = np.concatenate([generated["qcd"]["images"][:40], generated["top"]["images"][:30]])
    return write_jets(tmp_path / "jets.h5", {"images": images}, {"process": "mixed"}), images


def test_score_round_trip_matches_the_library(saved_model, jet_file, tmp_path, capsys):
    model, model_dir = saved_model
    path, images = jet_file
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_dir), "--input", str(path),
                 "--output", str(out), "--batch-size", "16"]) == 0
    assert "70 rows" in capsys.readouterr().out
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == (*SCORE_COLUMNS, "anomaly") and len(frame) == 70
    expected = score_images(model, normalize(images), batch_size=70)
    np.testing.assert_allclose(frame[list(SCORE_COLUMNS)].to_numpy(), expected.to_numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(frame["anomaly"], frame["kl_total"])
    assert np.all(frame["kl_total"] >= 0) and np.all(frame["dice"] <= 1)


@pytest.mark.parametrize("problem, message", [
    ("missing", "file not found"),
    ("nan", "NaN"),
    ("shape", "expected (N, 40, 40)"),
    ("model", "no saved model"),
])
def test_bad_inputs_are_one_clear_line(problem, message, saved_model, generated, tmp_path,
                                       capsys):
    _, model_dir = saved_model
    images = generated["qcd"]["images"][:5].copy()
    path = tmp_path / "bad.h5"
    if problem == "nan":
        images[2, 3, 4] = np.nan
        write_jets(path, {"images": images}, {})
    elif problem == "shape":
        with h5py.File(path, "w") as h5:
            h5.create_dataset("images", data=np.zeros((5, 32, 32), np.float32))
    elif problem == "model":
        write_jets(path, {"images": images}, {})
        model_dir = tmp_path / "no_model"
    argv = ["score", "--model", str(model_dir), "--input", str(path),
            "--output", str(tmp_path / "out.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out.csv").exists()
