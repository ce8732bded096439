"""Anomaly scores against hand-computed values, model scoring, ROC metrics and their bootstrap."""

from __future__ import annotations

from math import log

import numpy as np
import pandas as pd
import pytest
from fakes import LinearEncoder, unit_sum_images

from src.analysis import metrics as M
from src.analysis import scores as S

# Two 2x2 images and their reconstructions, worked out by hand below.
X = np.array([[[0.5, 0.5], [0.0, 0.0]],
              [[1.0, 0.0], [0.0, 0.0]]])
X_HAT = np.array([[[0.5, 0.25], [0.25, 0.0]],
                  [[1.0, 0.0], [0.0, 0.0]]])
# Image 0, pixel by pixel (x, x_hat): (0.5, 0.5), (0.5, 0.25), (0, 0.25), (0, 0).
#   squared differences 0, 1/16, 1/16, 0                -> mse = (1/8) / 4 = 1/32
#   bce: ln 2 + (0.5 ln 4 + 0.5 ln 4/3) + ln 4/3 + 0      -> 2 ln 2 + 1.5 ln(4/3)
#   dice: overlap 0.25 + 0.125 = 0.375, sizes 1 + 1      -> 1 - 0.75 / 2 = 0.625
# Image 1 is reconstructed exactly: every score is 0 (bce up to the eps guard, ~4e-7).
MSE = [1 / 32, 0.0]
BCE = [2 * log(2) + 1.5 * log(4 / 3), 0.0]
DICE = [0.625, 0.0]


def test_reconstruction_scores_match_hand_computation():
    np.testing.assert_allclose(S.mse(X, X_HAT), MSE, atol=1e-12)
    np.testing.assert_allclose(S.bce(X, X_HAT), BCE, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(S.dice(X, X_HAT), DICE, atol=1e-12)
    np.testing.assert_allclose(S.total(X, X_HAT), np.add(BCE, DICE), rtol=1e-6, atol=1e-6)


def test_bce_takes_the_input_as_target():
    # Swapped arguments put a reconstruction of 0 under a target of 0.25 in image 0:
    # -0.25 ln(1e-7) ~ 4.03 alone, far from the correct value 1.818.
    assert S.bce(X_HAT, X)[0] > 4.0
    assert S.bce(X, X_HAT)[0] == pytest.approx(BCE[0], rel=1e-6)


def test_dice_limits():
    blank = np.zeros((1, 3, 3))
    a = np.zeros((1, 3, 3))
    a[0, 0, 0] = 1.0
    b = np.zeros((1, 3, 3))
    b[0, 2, 2] = 1.0
    assert S.dice(blank, blank)[0] == 0.0
    assert S.dice(a, b)[0] == 1.0
    assert S.dice(a, a)[0] == 0.0


def test_kl_cont_known_values():
    assert S.kl_cont(np.zeros((3, 5)), np.zeros((3, 5))) == pytest.approx(np.zeros(3))
    # mu = (1, 0), logvar = (0, ln 2): -0.5 [(1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)] = 1 - ln(2)/2
    value = S.kl_cont(np.array([[1.0, 0.0]]), np.array([[0.0, log(2)]]))
    assert value[0] == pytest.approx(1 - log(2) / 2, rel=1e-12)


def test_kl_disc_known_values():
    assert S.kl_disc(np.zeros((2, 20))) == pytest.approx([0.0, 0.0], abs=1e-9)
    assert S.kl_disc(np.array([[30.0, 0.0, 0.0, 0.0]]))[0] == pytest.approx(log(4), rel=1e-5)
    # logits (ln 3, 0): q = (3/4, 1/4), KL = 3/4 ln(3/2) + 1/4 ln(1/2)
    value = S.kl_disc(np.array([[log(3), 0.0]]))[0]
    assert value == pytest.approx(0.75 * log(1.5) - 0.25 * log(2), rel=1e-5)
    extreme = S.kl_disc(np.array([[1e4, -1e4, 0.0]]))
    assert np.isfinite(extreme).all() and extreme[0] == pytest.approx(log(3), rel=1e-5)


def test_kl_total_is_the_sum():
    rng = np.random.default_rng(0)
    mu, logvar, logits = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(S.kl_total(mu, logvar, logits),
                               S.kl_cont(mu, logvar) + S.kl_disc(logits))


class FakeModel(LinearEncoder):
    """Deterministic per-image stand-in for a trained model, with the numpy interface."""

    def __init__(self, kind: str, latent_dim: int = 3, n_categories: int = 4):
        super().__init__(kind, latent_dim, n_categories, seed=1)

    def reconstruct(self, images, batch_size=512):
        return 0.5 * images + 0.2 * images.mean(axis=(1, 2), keepdims=True) + 0.1

    def target(self, images):
        """What the reconstruction is compared with: the plain pixels (no input transform)."""
        return images


_images = unit_sum_images


def test_score_images_jointvae_matches_direct_computation_for_any_batch_size():
    model = FakeModel("jointvae")
    images = _images(23)
    frames = [S.score_images(model, images, batch_size=b) for b in (1, 5, 23, 1024)]
    assert tuple(frames[0].columns) == S.SCORE_COLUMNS
    assert len(frames[0]) == 23
    assert model.batches[:3] == [1, 1, 1]  # really batched
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0], rtol=1e-9)
    enc = model.encode(images)
    x_hat = model.reconstruct(images)
    np.testing.assert_allclose(frames[0]["kl_cont"], S.kl_cont(enc["mu"], enc["logvar"]), rtol=1e-9)
    np.testing.assert_allclose(frames[0]["kl_disc"], S.kl_disc(enc["logits"]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frames[0]["kl_total"], frames[0]["kl_cont"] + frames[0]["kl_disc"])
    np.testing.assert_allclose(frames[0]["bce"], S.bce(images, x_hat), rtol=1e-9)
    np.testing.assert_allclose(frames[0]["total"], S.bce(images, x_hat) + S.dice(images, x_hat),
                               rtol=1e-9)


def test_score_images_columns_per_model_kind():
    images = _images(4)
    vae = S.score_images(FakeModel("vae"), images)
    assert list(vae.columns) == ["kl_cont", "kl_total", "bce", "mse", "dice", "total"]
    np.testing.assert_array_equal(vae["kl_total"], vae["kl_cont"])
    assert list(S.score_images(FakeModel("ae"), images).columns) == ["bce", "mse", "dice", "total"]


def test_score_images_normalizes_raw_images_on_request():
    model = FakeModel("jointvae")
    images = _images(6)
    raw = images * np.linspace(300, 900, 6, dtype=np.float32)[:, None, None]
    raw[0] = 0.0
    expected = S.score_images(model, images)
    got = S.score_images(model, raw, batch_size=4, normalize=True, progress=True)
    pd.testing.assert_frame_equal(got.iloc[1:], expected.iloc[1:], rtol=1e-5)
    assert got.loc[0, "kl_cont"] == pytest.approx(0.0, abs=1e-12)  # blank image encodes to 0


def test_score_images_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown model kind"):
        S.score_images(FakeModel("gan"), _images(2))
    with pytest.raises(ValueError, match="image stack"):
        S.score_images(FakeModel("ae"), np.zeros((0, 40, 40)))
    with pytest.raises(ValueError, match="batch_size"):
        S.score_images(FakeModel("ae"), _images(2), batch_size=0)


# ROC example: scores (0.1, 0.4, 0.35, 0.8) with labels (0, 0, 1, 1). Thresholds from the top:
# 0.8 -> (fpr, tpr) = (0, 1/2); 0.4 -> (1/2, 1/2); 0.35 -> (1/2, 1); 0.1 -> (1, 1).
# AUC = 1/2 * 1/2 + 1/2 * 1 = 3/4. At FPR 1/4 the best point with FPR <= 1/4 is (0, 1/2) and
# the next one (1/2, 1/2): TPR 1/2. At FPR 1/2 the best point is (1/2, 1): TPR 1.
SCORES = np.array([0.1, 0.4, 0.35, 0.8])
LABELS = np.array([0, 0, 1, 1])


def test_auc_and_roc_hand_example():
    fpr, tpr, _ = M.roc(SCORES, LABELS)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert M.auc(SCORES, LABELS) == pytest.approx(0.75)


def test_tpr_at_fpr_hand_example():
    assert M.tpr_at_fpr(SCORES, LABELS, 0.25) == pytest.approx(0.5)
    assert M.tpr_at_fpr(SCORES, LABELS, 0.5) == pytest.approx(1.0)
    assert M.tpr_at_fpr(SCORES, LABELS, 1.0) == pytest.approx(1.0)


def test_tpr_at_fpr_interpolates_along_a_diagonal_segment():
    # A background and a signal jet tie at score 1: that threshold jumps from (0, 0) to
    # (1, 1/2), so on the way TPR(f) = f / 2.
    scores, labels = np.array([1.0, 1.0, 0.0]), np.array([0, 1, 1])
    assert M.tpr_at_fpr(scores, labels, 0.1) == pytest.approx(0.05)
    assert M.tpr_at_fpr(scores, labels, 0.6) == pytest.approx(0.3)


def test_auc_perfect_inverted_and_random():
    labels = np.repeat([0, 1], 5000)
    assert M.auc(labels.astype(float), labels) == 1.0
    assert M.auc(-labels.astype(float), labels) == 0.0  # reported as is, not flipped
    random = np.random.default_rng(0).random(labels.size)
    assert M.auc(random, labels) == pytest.approx(0.5, abs=0.02)
    assert M.tpr_at_fpr(random, labels, 0.1) == pytest.approx(0.1, abs=0.02)


def test_orient_flips_only_scores_below_chance():
    oriented, flipped = M.orient(-SCORES, LABELS)
    assert flipped and M.auc(oriented, LABELS) == pytest.approx(0.75)
    oriented, flipped = M.orient(SCORES, LABELS)
    assert not flipped and np.array_equal(oriented, SCORES)


def _sample(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    return np.round(rng.normal(size=n) + labels, 1), labels  # rounding makes ties


def test_bootstrap_reproducible_and_seed_dependent():
    scores, labels = _sample()
    first = M.bootstrap(scores, labels, "auc", n=50, seed=7)
    assert M.bootstrap(scores, labels, "auc", n=50, seed=7) == first
    assert M.bootstrap(scores, labels, "auc", n=50, seed=8) != first
    assert first.mean == pytest.approx(M.auc(scores, labels), abs=3 * first.std)
    assert 0.0 < first.std < 0.05


@pytest.mark.parametrize("metric, fpr", [("auc", 0.1), ("tpr_at_fpr", 0.1), ("tpr_at_fpr", 0.01)])
def test_bootstrap_vectorized_equals_per_replicate(metric, fpr):
    scores, labels = _sample(600)

    def reference(s, y):
        return M.auc(s, y) if metric == "auc" else M.tpr_at_fpr(s, y, fpr)

    fast = M.bootstrap(scores, labels, metric, n=30, seed=3, fpr=fpr)
    slow = M.bootstrap(scores, labels, reference, n=30, seed=3)
    assert fast.mean == pytest.approx(slow.mean, rel=1e-12)
    assert fast.std == pytest.approx(slow.std, rel=1e-9)


def test_metrics_table():
    scores, labels = _sample()
    bkg = pd.DataFrame({"good": scores[labels == 0], "inverted": -scores[labels == 0]})
    sig = {"good": scores[labels == 1], "inverted": -scores[labels == 1], "extra": np.ones(1000)}
    table = M.metrics_table(bkg, sig, n_bootstrap=40, seed=1)
    assert list(table.index) == ["good", "inverted"]
    assert list(table.columns) == ["auc", "auc_std", "tpr@fpr=0.1", "tpr@fpr=0.1_std",
                                   "tpr@fpr=0.01", "tpr@fpr=0.01_std"]
    assert table.loc["good", "auc"] == pytest.approx(M.auc(scores, labels))
    assert table.loc["inverted", "auc"] == pytest.approx(1 - M.auc(scores, labels))
    assert table.loc["good", "tpr@fpr=0.1"] == pytest.approx(M.tpr_at_fpr(scores, labels, 0.1))
    assert table.loc["good", "auc_std"] == pytest.approx(table.loc["inverted", "auc_std"])
    assert (table.loc["good"].filter(like="_std") > 0).all()
    with pytest.raises(ValueError, match="missing"):
        M.metrics_table(bkg, sig, scores=["extra"], n_bootstrap=2)


@pytest.mark.parametrize("scores, labels, message", [
    ([], [], "empty"),
    ([0.1, 0.2], [0, 1, 1], "2 scores but 3 labels"),
    ([0.1, 0.2], [0, 2], "labels must be 0"),
    ([0.1, 0.2], [1, 1], "only one class"),
    ([0.1, np.nan], [0, 1], "NaN"),
    ([[0.1, 0.2]], [[0, 1]], "1-D"),
])
def test_metric_input_validation(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        M.auc(scores, labels)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="fpr must be in"):
        M.tpr_at_fpr(SCORES, LABELS, 0.0)
    with pytest.raises(ValueError, match="unknown metric"):
        M.bootstrap(SCORES, LABELS, "precision")
    with pytest.raises(ValueError, match="at least 2"):
        M.bootstrap(SCORES, LABELS, n=1)
    with pytest.raises(ValueError, match="differs from reconstruction"):
        S.mse(X, X_HAT[:, :1])
    with pytest.raises(ValueError, match="mu shape"):
        S.kl_cont(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="logits must be"):
        S.kl_disc(np.zeros(4))
    with pytest.raises(ValueError, match="no score in common"):
        M.metrics_table({"a": [1.0]}, {"b": [1.0]})


def test_stack_background_first():
    values, labels = M.stack(np.array([0.1, 0.4], np.float32), [0.35, 0.8])
    assert values.dtype == np.float64 and labels.dtype == np.int8
    np.testing.assert_allclose(values, SCORES)
    np.testing.assert_array_equal(labels, LABELS)


def test_roc_versus_one_curve_per_signal_sample():
    background = np.array([0.1, 0.4])
    curves = M.roc_versus(background, {"a": [0.35, 0.8], "b": [0.0, 0.05, 0.2]})
    assert list(curves) == ["a (AUC 0.750)", "b (AUC 0.167)"]
    fpr, tpr = curves["a (AUC 0.750)"]
    expected_fpr, expected_tpr, _ = M.roc(SCORES, LABELS)
    np.testing.assert_array_equal(fpr, expected_fpr)
    np.testing.assert_array_equal(tpr, expected_tpr)
    assert list(M.roc_set({"a": SCORES}, LABELS)) == ["a (AUC 0.750)"]


def test_rejection_interpolates_the_fpr():
    # ROC points (fpr, tpr): (0, 0), (0, 1/2), (1/2, 1/2), (1/2, 1), (1, 1). At TPR 3/4 the
    # FPR is 1/2; at TPR 1/4 no background jet passes yet: infinite rejection.
    assert M.rejection(SCORES, LABELS, 0.75) == pytest.approx(2.0)
    assert M.rejection(SCORES, LABELS, 0.25) == np.inf
    scores, labels = _sample()
    fpr, tpr, _ = M.roc(scores, labels)
    assert M.rejection(scores, labels, 0.3) == pytest.approx(1 / np.interp(0.3, tpr, fpr))
    with pytest.raises(ValueError, match="efficiency"):
        M.rejection(SCORES, LABELS, 0.0)
