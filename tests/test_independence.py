"""Chapter 7's scores and metrics against hand-computed examples and known distributions."""

from __future__ import annotations

import numpy as np
import pytest

from src.analysis import density, massdep
from src.analysis.independence import category_purity
from src.models.layers import LOG_SCALE, transform_intensity
from src.models.losses import Capacity


def test_sum_squared_means_by_hand():
    encoded = {"mu": np.array([[1.0, 2.0], [0.0, -3.0]]), "logvar": np.zeros((2, 2))}
    np.testing.assert_allclose(density.sum_squared_means(encoded), [5.0, 9.0])


def test_latent_features_append_category_probabilities():
    encoded = {"mu": np.array([[1.0, 2.0]]), "logits": np.log(np.array([[1.0, 3.0]]))}
    np.testing.assert_allclose(density.latent_features(encoded), [[1.0, 2.0, 0.25, 0.75]])


def test_mahalanobis_by_hand():
    features = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    scorer = density.Mahalanobis.fit(features)
    # mean 0, covariance diag(2/3, 8/3) (ddof 1), loaded by 1e-3 of the mean variance
    load = 1e-3 * (2 / 3 + 8 / 3) / 2
    expected = 1.0 / (2 / 3 + load) + 4.0 / (8 / 3 + load)
    np.testing.assert_allclose(scorer.score([[1.0, 2.0]]), [expected], rtol=1e-12)
    back = density.from_dict(scorer.to_dict())
    np.testing.assert_allclose(back.score(features), scorer.score(features))


def test_mixture_density_recovers_a_known_gaussian(rng):
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    sample = rng.multivariate_normal([1.0, -2.0], cov, size=20000)
    scorer = density.MixtureDensity.fit(sample, components=1)
    points = np.array([[1.0, -2.0], [3.0, 0.0]])
    d = points - [1.0, -2.0]
    exact = 0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d) + \
        0.5 * np.log(np.linalg.det(2 * np.pi * cov))
    np.testing.assert_allclose(scorer.score(points), exact, atol=0.03)
    back = density.from_dict(scorer.to_dict())
    np.testing.assert_allclose(back.score(points), scorer.score(points), rtol=1e-9)


def test_mixture_density_ranks_the_gap_between_two_modes_as_anomalous(rng):
    sample = np.r_[rng.normal(-4, 0.5, (3000, 1)), rng.normal(4, 0.5, (3000, 1))]
    scorer = density.MixtureDensity.fit(sample, components=2, seed=1)
    # a single Gaussian (or the KL to a unit prior) would call 0 the most typical point
    low, gap = scorer.score([[4.0], [0.0]])
    assert gap > low + 20


def test_density_errors_are_clear():
    with pytest.raises(ValueError, match="non-empty"):
        density.Mahalanobis.fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        density.Mahalanobis.fit(np.array([[np.nan, 1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="too few"):
        density.MixtureDensity.fit(np.zeros((5, 2)), components=8)
    with pytest.raises(ValueError, match="unknown latent"):
        density.fit_scorer("flow", {"mu": np.zeros((4, 2))})


def test_combined_score_standardizes_each_part():
    combined = density.Combined.fit({"a": [0.0, 1.0, 2.0, 3.0, 4.0],
                                     "b": [0.0, 10.0, 20.0, 30.0, 40.0]})
    # medians 2 and 20, inter-quartile ranges 2 and 20
    np.testing.assert_allclose(combined.score({"a": [4.0], "b": [0.0]}), [1.0 - 1.0])
    np.testing.assert_allclose(combined.score({"a": [6.0], "b": [60.0]}), [2.0 + 2.0])
    back = density.Combined.from_dict(combined.to_dict())
    np.testing.assert_allclose(back.score({"a": [6.0], "b": [60.0]}), [4.0])
    with pytest.raises(ValueError, match="misses its parts b"):
        combined.score({"a": [1.0]})


def test_mass_window_score_and_auc_in_window():
    mass = np.array([100.0, 150.0, 170.0, 190.0, 250.0])
    np.testing.assert_allclose(massdep.mass_window_score(mass), [-72.5, -22.5, -2.5, -17.5, -77.5])
    scores = np.array([9.0, 1.0, 3.0, 2.0, 0.0])
    labels = np.array([1, 0, 1, 0, 1])
    # inside [140, 200): jets 150 (bg, 1), 170 (sig, 3), 190 (bg, 2): the signal ranks first
    assert massdep.auc_in_window(scores, labels, mass) == 1.0
    with pytest.raises(ValueError, match="no jet with mass"):
        massdep.auc_in_window(scores, labels, mass, (300.0, 400.0))


def test_js_divergence_bounds_and_a_hand_value():
    assert massdep.js_divergence([1, 2, 3], [2, 4, 6]) == 0.0
    assert massdep.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4)
    expected = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(2 / 3) + 0.5 * np.log2(2))
    assert massdep.js_divergence([1, 0], [1, 1]) == pytest.approx(expected)


def test_sculpting_is_zero_for_a_mass_blind_score_and_large_for_mass(rng):
    mass = rng.uniform(0, 300, 200000)
    blind = massdep.sculpting(rng.normal(size=mass.size), mass)
    heavy = massdep.sculpting(mass, mass)
    assert blind[0.1] < 0.01 and blind[0.01] < 0.05
    assert heavy[0.1] > 0.5 and heavy[0.01] > 0.5


def test_category_purity_by_hand():
    bg = np.eye(3)[[0, 0, 1, 2]] * 5
    sig = np.eye(3)[[1, 1, 1, 2]] * 5
    # category 0: 2 bg / 0 sig, 1: 1 / 3, 2: 1 / 1 -> (2 + 3 + 1) / 8
    assert category_purity(bg, sig) == pytest.approx(6 / 8)


def test_capacity_ramps_linearly_then_holds():
    cap = Capacity(gamma=30.0, cont_max=5.0, disc_max=2.0, iterations=100)
    values = [float(cap.at(5.0, step)) for step in (0, 50, 100, 400)]
    assert values == pytest.approx([0.0, 2.5, 5.0, 5.0])


def test_intensity_transforms_fix_zero_and_one_and_lift_soft_pixels():
    x = np.array([0.0, 1e-3, 0.25, 1.0], np.float32)
    np.testing.assert_allclose(transform_intensity(x, "sqrt"), [0, np.sqrt(1e-3), 0.5, 1],
                               rtol=1e-6)
    log = transform_intensity(x, "log")
    np.testing.assert_allclose(log[[0, 3]], [0.0, 1.0], atol=1e-6)
    assert log[1] == pytest.approx(np.log(2) / np.log1p(1 / LOG_SCALE), rel=1e-5)
    assert transform_intensity(x, "none") is x
    with pytest.raises(ValueError, match="unknown input transform"):
        transform_intensity(x, "cube")
