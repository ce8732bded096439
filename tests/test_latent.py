"""Embeddings, latent features, category statistics, interpolation and prior samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes import LinearEncoder, unit_sum_images

from src.analysis import latent as L
from src.analysis.scores import softmax

D, K = 3, 4


class FakeModel(LinearEncoder):
    """Deterministic stand-in for a trained model: linear encoder, sigmoid linear decoder.

    ``reconstruct`` decodes the posterior mean with the one-hot most likely category, as the
    real models do; ``decoded`` records every decoder input.
    """

    def __init__(self, kind: str = "jointvae"):
        super().__init__(kind, D, K, seed=2)
        rng = np.random.default_rng(3)
        self.w_dec = rng.normal(size=(D + K if kind == "jointvae" else D, 1600))
        self.decoded: list[np.ndarray] = []

    def decode(self, z, batch_size=512):
        self.decoded.append(np.array(z))
        return (1.0 / (1.0 + np.exp(-z @ self.w_dec))).reshape(len(z), 40, 40)

    def reconstruct(self, images, batch_size=512):
        enc = self.encode(images)
        z = enc["z"] if self.spec.kind == "ae" else enc["mu"]
        if self.spec.kind == "jointvae":
            z = np.concatenate([z, np.eye(K)[np.argmax(enc["logits"], axis=1)]], axis=1)
        return self.decode(z)


_images = unit_sum_images


def _clusters(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)) + np.repeat([[0.0] * 5, [6.0] * 5], n // 2, axis=0)


@pytest.mark.parametrize("method, kw", [("pca", {}), ("tsne", {"perplexity": 10})])
def test_embed_shape_and_determinism(method, kw):
    x = _clusters()
    first = L.embed(x, method, seed=3, **kw)
    assert first.shape == (60, 2) and np.isfinite(first).all()
    np.testing.assert_array_equal(L.embed(x, method, seed=3, **kw), first)
    # The two clusters stay apart along the first coordinate (up to its sign).
    gap = abs(first[:30, 0].mean() - first[30:, 0].mean())
    assert gap > first[:30, 0].std() + first[30:, 0].std()


def test_embed_tsne_depends_on_seed():
    x = _clusters()
    assert not np.allclose(L.embed(x, "tsne", seed=1, perplexity=10),
                           L.embed(x, "tsne", seed=2, perplexity=10))


def test_embed_umap_reproducible():
    x = _clusters(40)
    first = L.embed(x, "umap", seed=5, n_neighbors=8)
    assert first.shape == (40, 2)
    np.testing.assert_array_equal(L.embed(x, "umap", seed=5, n_neighbors=8), first)


def test_embed_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown embedding method"):
        L.embed(_clusters(), "mds")
    with pytest.raises(ValueError, match=r"\(N, D\) array"):
        L.embed(np.zeros(10), "pca")
    with pytest.raises(ValueError, match="NaN"):
        L.embed(np.full((5, 2), np.nan), "pca")


def test_latent_features():
    model, images = FakeModel(), _images(5)
    enc = model.encode(images)
    np.testing.assert_allclose(L.latent_features(model, images, "continuous"), enc["mu"])
    probs = L.latent_features(model, images, "discrete")
    assert probs.shape == (5, K)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probs.argmax(axis=1), enc["logits"].argmax(axis=1))
    ae = FakeModel("ae")
    np.testing.assert_allclose(L.latent_features(ae, images), ae.encode(images)["z"])
    with pytest.raises(ValueError, match="no discrete latent"):
        L.latent_features(FakeModel("vae"), images, "discrete")
    with pytest.raises(ValueError, match="which must be"):
        L.latent_features(model, images, "both")


def test_category_occupancy_hand_example():
    # Most likely categories: 0, 0, 2, 1, 2 for labels 0, 0, 0, 1, 1 (K = 4, category 3 empty).
    logits = np.eye(K)[[0, 0, 2, 1, 2]] * 3.0
    table = L.category_occupancy(logits, [0, 0, 0, 1, 1])
    expected = pd.DataFrame({0: [2 / 3, 0.0, 1 / 3, 0.0], 1: [0.0, 0.5, 0.5, 0.0]},
                            index=pd.RangeIndex(K, name="category"))
    pd.testing.assert_frame_equal(table, expected, check_names=False, check_column_type=False)
    np.testing.assert_allclose(table.sum(axis=0), 1.0)
    with pytest.raises(ValueError, match="labels of shape"):
        L.category_occupancy(logits, [0, 1])


def test_category_occupancy_sums_to_one_per_class():
    logits = np.random.default_rng(0).normal(size=(500, 20))
    labels = np.repeat([0, 1], 250)
    table = L.category_occupancy(logits, labels)
    assert table.shape == (20, 2)
    np.testing.assert_allclose(table.sum(axis=0), [1.0, 1.0])


def test_category_profiles_hand_example():
    logits = np.eye(K)[[1, 1, 1, 3]]
    mass = np.array([170.0, 180.0, 190.0, 40.0])
    table = L.category_profiles(logits, {"jet_mass": mass, "n_constituents": [10, 20, 30, 5]})
    assert list(table.columns) == ["n_jets", "jet_mass_mean", "jet_mass_std",
                                   "n_constituents_mean", "n_constituents_std"]
    assert list(table["n_jets"]) == [0, 3, 0, 1]
    assert table.loc[1, "jet_mass_mean"] == pytest.approx(180.0)
    assert table.loc[1, "jet_mass_std"] == pytest.approx(10.0)
    assert table.loc[3, "n_constituents_mean"] == pytest.approx(5.0)
    assert np.isnan(table.loc[0, "jet_mass_mean"]) and np.isnan(table.loc[3, "jet_mass_std"])
    with pytest.raises(ValueError, match="has shape"):
        L.category_profiles(logits, {"jet_mass": mass[:2]})
    with pytest.raises(ValueError, match="no quantities"):
        L.category_profiles(logits, {})


def test_interpolate_onehot_ends_are_reconstructions():
    model, images = FakeModel(), _images(2, seed=4)
    path = L.interpolate(model, images[0], images[1], steps=5)
    assert path.shape == (5, 40, 40)
    np.testing.assert_allclose(path[[0, -1]], model.reconstruct(images), rtol=1e-6)
    z = model.decoded[0]
    assert z.shape == (5, D + K)
    np.testing.assert_allclose(z[2], 0.5 * (z[0] + z[4]), rtol=1e-6)
    np.testing.assert_allclose(z[:, D:].sum(axis=1), 1.0, rtol=1e-6)


def test_interpolate_probabilities_and_other_kinds():
    model, images = FakeModel(), _images(2, seed=4)
    L.interpolate(model, images[0], images[1], steps=3, categories="probabilities")
    q = softmax(model.encode(images)["logits"])
    np.testing.assert_allclose(model.decoded[0][[0, 2], D:], q, rtol=1e-6)
    for kind in ("vae", "ae"):
        other = FakeModel(kind)
        path = L.interpolate(other, images[0], images[1], steps=4)
        assert path.shape == (4, 40, 40)
        np.testing.assert_allclose(path[[0, -1]], other.reconstruct(images), rtol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        L.interpolate(model, images[0], images[1], steps=1)
    with pytest.raises(ValueError, match="categories must be"):
        L.interpolate(model, images[0], images[1], categories="logits")


def test_sample_prior():
    model = FakeModel()
    first = L.sample_prior(model, 7, seed=11, batch_size=3)
    assert first.shape == (7, 40, 40)
    assert [len(z) for z in model.decoded] == [3, 3, 1]
    z = np.concatenate(model.decoded)
    assert set(np.unique(z[:, D:])) == {0.0, 1.0}
    np.testing.assert_array_equal(z[:, D:].sum(axis=1), 1.0)
    np.testing.assert_allclose(L.sample_prior(model, 7, seed=11), first, rtol=1e-12)
    assert not np.allclose(L.sample_prior(model, 7, seed=12), first)
    assert L.sample_prior(FakeModel("vae"), 2, seed=0).shape == (2, 40, 40)
    with pytest.raises(ValueError, match="no prior"):
        L.sample_prior(FakeModel("ae"), 2)
    with pytest.raises(ValueError, match="n must be positive"):
        L.sample_prior(model, 0)
