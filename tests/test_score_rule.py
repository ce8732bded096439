"""A model with a fitted scoring rule (chapter 7's recommended models): stored beside the
weights, used by ``score``, refused when it belongs to other weights; and the input
transforms inside a model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fakes import TINY_SPEC, sparse_unit_sum_images

from src.analysis.anomaly import score_model, ship_score
from src.analysis.independence import SCORES, LatentScorer, evaluate
from src.backend import seed_everything
from src.cli import main
from src.data.datasets import write_jets
from src.models.networks import build_model
from src.models.spec import ModelSpec
from src.models.store import SCORE_FILE, load, save
from src.models.train import TrainSpec, fit


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny joint VAE saved with a training record, and its folder."""
    seed_everything(5)
    model = build_model(ModelSpec(**TINY_SPEC))
    path = tmp_path_factory.mktemp("models") / "tiny"
    save(model, path, metadata={"train": {"seed": 5}, "data": "x"})
    return load(path), path


def test_ship_score_writes_a_rule_that_score_uses(tiny, tmp_path):
    model, path = tiny
    train = sparse_unit_sum_images(64, seed=1)
    ship_score(model, path, train, anomaly="mahalanobis", seed=3)
    assert (path / SCORE_FILE).is_file()
    back = load(path)
    assert back.score_rule["anomaly"] == "mahalanobis"
    images = sparse_unit_sum_images(12, seed=2)
    frame = score_model(back, images, batch_size=5)
    assert list(frame.columns) == [*SCORES, "anomaly"]
    np.testing.assert_array_equal(frame["anomaly"], frame["mahalanobis"])
    # the stored rule scores as the freshly fitted one (other batch sizes round the
    # encoder's float32 sums differently: agreement to 1e-4, not bit for bit)
    fresh = LatentScorer.fit(model, train, seed=3).scores(images)[0]
    np.testing.assert_allclose(frame["mixture"], fresh["mixture"], rtol=1e-4)
    # through the command line, on a schema-1 file
    jets = write_jets(tmp_path / "jets.h5", {"images": images * 7.0}, {"process": "mixed"})
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(path), "--input", str(jets), "--output", str(out)]) == 0
    csv = pd.read_csv(out)
    np.testing.assert_allclose(csv["anomaly"], frame["anomaly"], rtol=1e-4)


def test_a_rule_for_other_weights_is_refused(tiny, tmp_path):
    model, path = tiny
    ship_score(model, path, sparse_unit_sum_images(40, seed=1), seed=0)
    record = json.loads((path / "spec.json").read_text())
    record["train"] = {"seed": 6}  # the weights were remade with other settings
    (path / "spec.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="score.json: fitted for other weights"):
        load(path)


def test_unknown_recommended_score_is_an_error(tiny):
    model, path = tiny
    with pytest.raises(ValueError, match="unknown score 'flow'"):
        ship_score(model, path.parent / "other", sparse_unit_sum_images(40), anomaly="flow")


@pytest.mark.parametrize("transform", ["sqrt", "log"])
def test_a_transformed_model_reconstructs_its_transformed_input(transform, tmp_path):
    seed_everything(2)
    spec = ModelSpec(**{**TINY_SPEC, "input_transform": transform})
    model = build_model(spec)
    images = sparse_unit_sum_images(32, seed=4)
    history = fit(model, images, images[:8], TrainSpec(epochs=1, batch_size=16, beta=1.0))
    assert np.isfinite(history["loss"]).all()
    assert model.encoder.get_layer("intensity").kind == transform
    np.testing.assert_allclose(model.target(images), np.asarray(
        model.target(images.astype(np.float32))))
    assert model.target(images).max() > images.max()  # soft pixels are lifted
    path = save(model, tmp_path / transform)
    back = load(path)
    np.testing.assert_array_equal(back.reconstruct(images), model.reconstruct(images))
    result = evaluate(back, images, {
        "qcd": {"images": images[:16], "jet_mass": np.linspace(100, 200, 16)},
        "top": {"images": images[16:], "jet_mass": np.linspace(150, 190, 16)}}, "qcd")
    assert set(result["scores"]) == set(SCORES)
    assert 0 <= result["scores"]["mixture"]["auc_window"] <= 1
