"""Embeddings, latent features, category statistics, interpolation and prior samples."""

from __future__ import annotations

from types import SimpleNamespace

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
    real models do; ``decoded`` records every decoder input, ``decode_batch_sizes`` the batch
    size asked for.
    """

    def __init__(self, kind: str = "jointvae"):
        super().__init__(kind, D, K, seed=2)
        rng = np.random.default_rng(3)
        self.w_dec = rng.normal(size=(D + K if kind == "jointvae" else D, 1600))
        self.decoded: list[np.ndarray] = []
        self.decode_batch_sizes: list[int] = []

    def decode(self, z, batch_size=512):
        self.decoded.append(np.array(z))
        self.decode_batch_sizes.append(batch_size)
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
    assert [len(z) for z in model.decoded] == [7] and model.decode_batch_sizes == [3]
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


def test_test_subsample_draws_from_one_seeded_generator(monkeypatch):
    sizes = {"qcd": 12, "top": 3}
    calls = []

    def fake_split(profile, process, part, fields):
        calls.append((process, part, fields))
        n = sizes[process]
        return {"images": np.arange(n * 4.0).reshape(n, 2, 2),
                "jet_mass": np.arange(n) + (100.0 if process == "top" else 0.0)}

    monkeypatch.setattr(L, "split", fake_split)
    profile = SimpleNamespace(seed=5)
    sample = L.test_subsample(profile, 5, ("images", "jet_mass"))
    assert calls == [("qcd", "test", ("images", "jet_mass")), ("top", "test", ("images", "jet_mass"))]
    assert sample.counts == {"qcd": 5, "top": 3} and sample.processes == ("qcd", "top")
    np.testing.assert_array_equal(sample.labels, [0] * 5 + [1] * 3)
    rng = np.random.default_rng(5)
    keep = np.sort(rng.choice(12, 5, replace=False))
    np.testing.assert_array_equal(sample.values["jet_mass"][:5], keep)
    np.testing.assert_array_equal(sample.values["jet_mass"][5:], [100.0, 101.0, 102.0])
    np.testing.assert_array_equal(sample.values["images"][:5, 0, 0], 4 * keep)
    again = L.test_subsample(profile, 5, ("images", "jet_mass"))
    np.testing.assert_array_equal(again.values["jet_mass"], sample.values["jet_mass"])
    with pytest.raises(ValueError, match="n must be positive"):
        L.test_subsample(profile, 0)


def test_embeddings_keyed_by_features_and_method():
    x = _clusters()
    out = L.embeddings({"a": x, "b": x[:, :3]}, ("pca",), seed=1)
    assert list(out) == [("a", "pca"), ("b", "pca")]
    np.testing.assert_array_equal(out[("a", "pca")], L.embed(x, "pca", seed=1))


def test_probe_auc_separable_and_random_features():
    labels = np.repeat([0, 1], 30)
    rng = np.random.default_rng(0)
    probe = L.probe_auc({"separable": _clusters(), "noise": rng.normal(size=(60, 5))}, labels)
    assert probe.name == "cross-validated AUC of a linear probe"
    assert probe["separable"] == 1.0
    assert abs(probe["noise"] - 0.5) < 0.25


def test_used_categories_threshold():
    occupancy = pd.DataFrame({0: [0.9, 0.005, 0.095, 0.0], 1: [0.5, 0.0, 0.3, 0.2]})
    assert list(L.used_categories(occupancy, 0.01)) == [0, 2, 3]
    assert list(L.used_categories(occupancy, 0.25)) == [0, 2]


def test_category_table_adds_the_signal_fraction():
    logits = np.eye(K)[[1, 1, 1, 3]]
    table = L.category_table(logits, {"jet_mass": [170.0, 180.0, 190.0, 40.0]}, [0, 1, 1, 0])
    assert table.loc[1, "top fraction"] == pytest.approx(2 / 3)
    assert table.loc[3, "top fraction"] == 0.0 and np.isnan(table.loc[0, "top fraction"])
    assert table.loc[1, "jet_mass_mean"] == pytest.approx(180.0)
    assert "signal" in L.category_table(logits, {"m": np.ones(4)}, [0, 1, 1, 0], "signal")


def test_prior_distance_and_rank_correlations():
    means = np.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    distance = L.prior_distance(means)
    np.testing.assert_allclose(distance, [5.0, 1.0, 10.0])
    with pytest.raises(ValueError, match="N, D"):
        L.prior_distance(np.ones(3))
    table = L.rank_correlations({"same": [2.0, 1.0, 3.0], "opposite": [0.0, 5.0, -1.0]}, distance)
    assert table.to_dict() == {"same": pytest.approx(1.0), "opposite": pytest.approx(-1.0)}
    assert table.name == "Spearman correlation with |mu|"
