"""Training loop, determinism, NaN guard, model cache and the throughput benchmark."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import TINY_SPEC

from src.backend import seed_everything
from src.bench.training import matmul_rate, random_images, training_throughput
from src.config import get_profile
from src.models import train as train_module
from src.models.networks import build_model
from src.models.spec import ModelSpec
from src.models.train import TrainSpec, fit, fit_classifier, train_or_load

# Two stages each way keep the traced training graph (and so the tests) small.
TINY = ModelSpec(**TINY_SPEC)
METRICS = ["loss", "bce", "kl_cont", "kl_disc", "mse", "psnr", "ssim"]


def overfit(epochs: int) -> tuple:
    x = random_images(32, seed=1)
    seed_everything(0)
    model = build_model(TINY)
    spec = TrainSpec(epochs=epochs, batch_size=16, learning_rate=1e-2, beta=1.0, seed=0)
    return model, fit(model, x, x, spec)


@pytest.fixture(scope="module")
def overfitted() -> tuple:
    return overfit(12)


def test_overfitting_a_tiny_batch_lowers_the_loss(overfitted):
    model, history = overfitted
    assert set(history) == {*METRICS, *(f"val_{m}" for m in METRICS), "lr"}
    assert all(len(v) == 12 for v in history.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_bce"][-1] < 0.5 * history["val_bce"][0]
    assert model.training_history == history


def test_same_seed_same_first_epoch(overfitted):
    _, history = overfitted
    _, again = overfit(1)
    assert again["loss"][0] == history["loss"][0]
    assert again["val_loss"][0] == history["val_loss"][0]


def test_nan_stops_training_with_a_clear_error():
    x = random_images(32, seed=3)
    x[5, 0, 0] = np.nan
    model = build_model(TINY.replace(kind="ae"))
    with pytest.raises(FloatingPointError, match="training diverged: loss = nan"):
        fit(model, x, x, TrainSpec(epochs=1, batch_size=16))


class Retrained(Exception):
    pass


def test_train_or_load_caches(tmp_path, monkeypatch):
    x, v = random_images(32, seed=4), random_images(16, seed=5)
    spec, settings = TINY.replace(kind="vae"), TrainSpec(epochs=1, batch_size=16)
    first = train_or_load("vae", spec, settings, x, v, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae"]

    def refuse(*args, **kwargs):
        raise Retrained

    monkeypatch.setattr(train_module, "fit", refuse)
    again = train_or_load("vae", spec, settings, x, v, tmp_path)
    np.testing.assert_array_equal(again.reconstruct(v), first.reconstruct(v))
    assert again.training_history == first.training_history
    for changed in [dict(fingerprint="other data"), dict(train_images=x[:16]),
                    dict(train_spec=TrainSpec(epochs=1, batch_size=8)),
                    dict(spec=spec.replace(latent_dim=5))]:
        args = dict(name="vae", spec=spec, train_spec=settings, train_images=x,
                    val_images=v, directory=tmp_path) | changed
        with pytest.raises(Retrained):
            train_or_load(**args)


def test_classifier_training(tmp_path):
    rng = np.random.default_rng(6)
    x = random_images(64, seed=6)
    y = rng.integers(0, 2, 64)
    x[y == 1, 10:30, 10:30] += 0.01  # a visible difference between the classes
    x /= x.sum(axis=(1, 2), keepdims=True)
    spec = TINY.replace(kind="classifier")
    model = train_or_load("clf", spec, TrainSpec(epochs=3, batch_size=16), x, x, tmp_path,
                          train_labels=y, val_labels=y)
    assert set(model.training_history) == {"loss", "auc", "val_loss", "val_auc", "lr"}
    assert model.predict_proba(x).shape == (64,)
    with pytest.raises(ValueError, match="use fit_classifier"):
        fit(model, x, x, TrainSpec(epochs=1))
    with pytest.raises(ValueError, match="64 images but 3 labels"):
        fit_classifier(model, x, y[:3], x, y, TrainSpec(epochs=1))


def test_train_spec_from_profile():
    profile = get_profile("smoke")
    spec = TrainSpec.from_profile(profile)
    assert (spec.epochs, spec.batch_size, spec.seed) == (profile.epochs, profile.batch_size,
                                                         profile.seed)
    ModelSpec(**profile.model)
    ModelSpec(**get_profile("default").model)
    assert ModelSpec(**get_profile("paper").model) == ModelSpec()


def test_training_throughput_report():
    report = training_throughput(TINY, n_images=64, batch_size=32, warmup_steps=1)
    assert report["steps"] == 2 and report["images_per_s"] > 0
    assert report["forward_macs"] > 0 and 0 < report["ratio"] < 1
    assert report["parameters"]["encoder"] == build_model(TINY).encoder.count_params()
    rate = matmul_rate(n=256, repeats=2)
    assert rate["gflops"] == pytest.approx(2 * 256**3 / rate["seconds"] / 1e9)
