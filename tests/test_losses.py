"""Loss terms against closed forms and numerical integration; the objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from src.backend import tf
from src.models.losses import (
    Capacity,
    Objective,
    bce_sum,
    image_metrics,
    kl_continuous,
    kl_discrete,
)


def test_kl_continuous_matches_numerical_integration():
    mu = np.array([[0.3, -1.2, 2.0]], np.float32)
    logvar = np.array([[-0.5, 0.4, -2.0]], np.float32)
    expected = 0.0
    for m, lv in zip(mu[0], logvar[0], strict=True):
        q = stats.norm(m, math.exp(0.5 * lv))

        def integrand(z, q=q):
            return q.pdf(z) * (q.logpdf(z) - stats.norm.logpdf(z))

        expected += integrate.quad(integrand, -30, 30, limit=200)[0]
    np.testing.assert_allclose(kl_continuous(mu, logvar).numpy(), [expected], rtol=1e-5)


def test_kl_continuous_zero_at_prior_and_positive_elsewhere():
    assert kl_continuous(np.zeros((2, 5)), np.zeros((2, 5))).numpy() == pytest.approx([0, 0])
    rng = np.random.default_rng(0)
    kl = kl_continuous(rng.normal(size=(100, 8)), rng.normal(size=(100, 8))).numpy()
    assert kl.shape == (100,) and np.all(kl > 0)


def test_kl_discrete_direct_sum():
    logits = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    eps = 1e-7
    expected = np.sum(q * np.log(q + eps) - q * np.log(1 / 4 + eps), axis=1)
    exact = np.sum(q * np.log(q * 4), axis=1)
    got = kl_discrete(logits, eps).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, exact, atol=1e-5)
    assert got[1] == pytest.approx(0.0, abs=1e-6)


def test_kl_discrete_safe_for_extreme_logits():
    logits = np.array([[1e4, -1e4, 0.0] + [0.0] * 17], np.float32)
    kl = kl_discrete(logits).numpy()
    assert np.isfinite(kl).all()
    assert kl[0] == pytest.approx(math.log(20), rel=1e-4)  # one-hot: log K


def test_bce_sum_matches_formula_and_is_finite_at_the_edges():
    rng = np.random.default_rng(1)
    x = rng.random((3, 40, 40, 1)).astype(np.float32)
    p = rng.uniform(0.01, 0.99, (3, 40, 40, 1)).astype(np.float32)
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(bce_sum(x, p).numpy(), expected, rtol=1e-5)
    edges = bce_sum(x, np.round(p)).numpy()
    assert np.isfinite(edges).all()


def test_image_metrics():
    x = np.random.default_rng(2).random((4, 40, 40, 1)).astype(np.float32)
    same = image_metrics(x, x)
    assert float(same["mse"]) == 0.0 and float(same["ssim"]) == pytest.approx(1.0)
    noisy = image_metrics(x, x + 0.01)
    assert float(noisy["mse"]) == pytest.approx(1600 * 1e-4, rel=1e-3)
    assert float(noisy["psnr"]) == pytest.approx(40.0, abs=0.01)


def outputs(batch: int = 4, seed: int = 3) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 40, 40, 1)).astype(np.float32)
    out = {"reconstruction": rng.uniform(0.1, 0.9, (batch, 40, 40, 1)).astype(np.float32),
           "mu": rng.normal(size=(batch, 8)).astype(np.float32),
           "logvar": rng.normal(size=(batch, 8)).astype(np.float32),
           "logits": rng.normal(size=(batch, 20)).astype(np.float32)}
    return x, out


def test_objective_terms_per_kind():
    x, out = outputs()
    bce = float(np.mean(bce_sum(x, out["reconstruction"])))
    klc = float(np.mean(kl_continuous(out["mu"], out["logvar"])))
    kld = float(np.mean(kl_discrete(out["logits"])))
    joint = Objective("jointvae", beta=3e3)(x, out)
    assert float(joint["loss"]) == pytest.approx(bce + 3e3 * (klc + kld), rel=1e-5)
    assert float(joint["kl_disc"]) == pytest.approx(kld, rel=1e-5)
    vae = Objective("vae", beta=2.0)(x, out)
    assert set(vae) == {"loss", "bce", "kl_cont"}
    assert float(vae["loss"]) == pytest.approx(bce + 2 * klc, rel=1e-5)
    assert float(Objective("ae")(x, out)["loss"]) == pytest.approx(bce, rel=1e-5)
    with pytest.raises(ValueError, match="no generative objective"):
        Objective("classifier")


def test_capacity_objective_anneals():
    x, out = outputs()
    cap = Capacity(gamma=10.0, cont_max=4.0, disc_max=1.0, iterations=100)
    objective = Objective("jointvae", capacity=cap)
    terms0 = objective(x, out, step=0)
    bce, klc, kld = (float(terms0[k]) for k in ("bce", "kl_cont", "kl_disc"))
    assert float(terms0["loss"]) == pytest.approx(bce + 10 * (abs(klc) + abs(kld)), rel=1e-5)
    half = objective(x, out, step=50)
    assert float(half["loss"]) == pytest.approx(
        bce + 10 * (abs(klc - 2.0) + abs(kld - 0.5)), rel=1e-5)
    late = objective(x, out, step=10_000)
    assert float(late["loss"]) == pytest.approx(
        bce + 10 * (abs(klc - 4.0) + abs(kld - 1.0)), rel=1e-5)
    with pytest.raises(ValueError, match="exceeds log"):
        Objective("jointvae", n_categories=20, capacity=Capacity(disc_max=5.0))


def test_objective_gradients_finite_at_temperature_50():
    x, out = outputs()
    logits = tf.Variable(np.full((4, 20), 0.0, np.float32) + np.eye(4, 20, dtype=np.float32) * 80)
    with tf.GradientTape() as tape:
        loss = Objective("jointvae")(x, {**out, "logits": logits})["loss"]
    grad = tape.gradient(loss, logits).numpy()
    assert np.isfinite(float(loss)) and np.isfinite(grad).all()
