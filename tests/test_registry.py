"""Named models of a profile: specs, labels, training on demand and the cache."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import TINY_SPEC

from src.bench.training import random_images
from src.cli import main
from src.config import Profile
from src.data import splits
from src.data.splits import labelled
from src.models import registry
from src.models.spec import ModelSpec
from src.models.store import read_record

PROFILE = Profile(name="tiny", seed=3, n_jets={"qcd": 40, "top": 30}, shard_size=10,
                  epochs=1, batch_size=16, model=TINY_SPEC)
SIZES = {("qcd", "train"): 24, ("qcd", "val"): 8, ("top", "train"): 20, ("top", "val"): 6}


@pytest.fixture
def fake_data(monkeypatch, tmp_path):
    """Random unit-sum images in place of generated samples; models in a temporary folder."""
    calls: list[tuple[str, str]] = []

    def split_images(profile, process, part):
        calls.append((process, part))
        seed = 10 * list(SIZES).index((process, part))
        return random_images(SIZES[process, part], seed=seed)

    monkeypatch.setattr(splits, "split_images", split_images)
    monkeypatch.setattr(registry, "split_images", split_images)
    monkeypatch.setattr(registry, "models_dir", lambda profile: tmp_path / profile.name)
    return calls


def test_specs_share_the_profile_architecture_and_differ_in_kind():
    specs = {name: registry.model_spec(PROFILE, name) for name in registry.RECIPES}
    assert {s.kind for s in specs.values()} == {"jointvae", "ae", "vae", "classifier"}
    assert specs["jointvae_top"] == specs["jointvae"]
    for name, spec in specs.items():
        assert spec.kind == registry.RECIPES[name].kind
        expected = ModelSpec(**{**PROFILE.model, **registry.RECIPES[name].model})
        assert spec.replace(kind="jointvae") == expected, name


def test_unknown_model_is_one_clear_error(capsys):
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        registry.trained(PROFILE, "gan")
    assert main(["train", "--profile", "smoke", "--model", "gan"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown model 'gan'")


def test_labels_are_zero_for_qcd_and_one_for_top(fake_data):
    images, labels = labelled(PROFILE, "train")
    assert images.shape == (44, 40, 40)
    np.testing.assert_array_equal(labels, [0] * 24 + [1] * 20)


def test_a_model_is_trained_once_and_then_loaded(fake_data, tmp_path):
    first = registry.trained(PROFILE, "jointvae_top")
    assert ("top", "train") in fake_data and ("qcd", "train") not in fake_data
    record = read_record(tmp_path / "tiny" / "jointvae_top")
    assert record["n_train"] == 20 and record["train_seconds"] > 0
    spec = registry.model_spec(PROFILE, "jointvae_top")
    assert ModelSpec.from_dict(record["model"]) == spec
    mtime = (tmp_path / "tiny" / "jointvae_top" / "weights.h5").stat().st_mtime_ns
    again = registry.trained(PROFILE, "jointvae_top")
    assert (tmp_path / "tiny" / "jointvae_top" / "weights.h5").stat().st_mtime_ns == mtime
    x = random_images(4, seed=99)
    np.testing.assert_array_equal(first.encode(x)["mu"], again.encode(x)["mu"])


def test_the_classifier_learns_from_both_samples(fake_data, tmp_path):
    model = registry.trained(PROFILE, "classifier")
    assert {("qcd", "train"), ("top", "train"), ("qcd", "val"), ("top", "val")} <= set(fake_data)
    assert read_record(tmp_path / "tiny" / "classifier")["n_train"] == 44
    proba = model.predict_proba(random_images(5, seed=1))
    assert proba.shape == (5,) and np.all((proba >= 0) & (proba <= 1))
