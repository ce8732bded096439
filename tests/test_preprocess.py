"""Geometry of the jet-image preprocessing."""

import numpy as np
import pytest

from src.config import N_PIXELS, PIXEL_SIZE
from src.data.preprocess import (
    WINDOW_MAX,
    WINDOW_SCALE,
    four_vectors_to_ptetaphi,
    jet_images,
    normalize,
    pixelize,
    standardize,
    window_images,
    wrap_phi,
)


def _random_jets(rng, n=50, m=30):
    pt = rng.exponential(10.0, size=(n, m))
    pt[:, m - 5:] = 0.0  # padding
    eta = rng.normal(0.3, 0.15, size=(n, m)) + rng.normal(0, 0.05, size=(n, 1))
    phi = wrap_phi(rng.normal(3.1, 0.2, size=(n, m)))  # straddles the +-pi boundary
    return pt, eta, phi, np.full(n, 0.3), np.full(n, 3.1)


def test_centroid_at_origin_and_principal_axis_vertical(rng):
    pt, eta, phi, jeta, jphi = _random_jets(rng)
    x, y = standardize(pt, eta, phi, jeta, jphi)
    w = pt / pt.sum(axis=1, keepdims=True)
    np.testing.assert_allclose((w * x).sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((w * y).sum(axis=1), 0, atol=1e-12)
    sxx, syy, sxy = (w * x * x).sum(1), (w * y * y).sum(1), (w * x * y).sum(1)
    np.testing.assert_allclose(sxy, 0, atol=1e-12)  # diagonal after rotation
    assert np.all(syy >= sxx)  # major axis along phi'
    assert np.all(x[pt == 0] == 0) and np.all(y[pt == 0] == 0)


def test_flip_puts_most_pt_in_lower_left_quadrant(rng):
    pt, eta, phi, jeta, jphi = _random_jets(rng)
    x, y = standardize(pt, eta, phi, jeta, jphi)
    quadrants = [(pt * ((x < 0) == a) * ((y < 0) == b)).sum(1) for a in (1, 0) for b in (1, 0)]
    assert np.all(quadrants[0] >= np.max(quadrants[1:], axis=0) - 1e-9)
    images = pixelize(pt, x, y)
    half = N_PIXELS // 2
    lower_left = images[:, :half, :half].sum((1, 2))
    for rows, cols in ((slice(None, half), slice(half, None)), (slice(half, None), slice(None, half)),
                       (slice(half, None), slice(half, None))):
        assert np.all(lower_left >= images[:, rows, cols].sum((1, 2)) - 1e-3)


def test_rotation_of_an_elongated_jet():
    # two-prong jet along eta: after rotation the prongs sit on the phi' axis
    pt = np.array([[10.0, 10.0]])
    x, y = standardize(pt, np.array([[-0.2, 0.2]]), np.zeros((1, 2)), np.zeros(1), np.zeros(1))
    np.testing.assert_allclose(np.abs(x), 0, atol=1e-12)
    np.testing.assert_allclose(np.sort(y[0]), [-0.2, 0.2], atol=1e-12)


def test_pixel_edges_and_pt_conservation_inside_window():
    eps = 1e-9
    # one constituent just inside each edge of the window, one outside, one on a bin edge
    eta_p = np.array([[-20 * PIXEL_SIZE[0] + eps, 20 * PIXEL_SIZE[0] - eps, 0.7, 0.0]])
    phi_p = np.array([[-20 * PIXEL_SIZE[1] + eps, 20 * PIXEL_SIZE[1] - eps, 0.0, PIXEL_SIZE[1]]])
    pt = np.array([[1.0, 2.0, 4.0, 8.0]])
    image = pixelize(pt, eta_p, phi_p)[0]
    assert image[0, 0] == 1.0 and image[39, 39] == 2.0
    assert image[21, 20] == 8.0  # phi' = one pixel exactly: lower edge belongs to row 21
    assert image.sum() == pytest.approx(11.0)  # the constituent at eta' = 0.7 is dropped


def test_images_conserve_pt_of_contained_jets(rng):
    pt, eta, phi, jeta, jphi = _random_jets(rng)
    eta = 0.3 + (eta - 0.3) * 0.3  # compact jets: everything inside the window
    phi = wrap_phi(3.1 + wrap_phi(phi - 3.1) * 0.3)
    images = jet_images(pt, eta, phi, jeta, jphi)
    assert images.shape == (len(pt), N_PIXELS, N_PIXELS) and images.dtype == np.float32
    np.testing.assert_allclose(images.sum((1, 2)), pt.sum(1), rtol=1e-5)


def test_normalize_unit_sum_and_rejects_empty():
    images = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
    np.testing.assert_allclose(normalize(images).sum((1, 2)), 1.0, rtol=1e-5)
    images[1] = 0
    with pytest.raises(ValueError, match="1 empty image"):
        normalize(images)


def test_four_vectors_round_trip(rng):
    pt, eta, phi = rng.uniform(1, 50, 20), rng.uniform(-2, 2, 20), rng.uniform(-np.pi, np.pi, 20)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    out = four_vectors_to_ptetaphi(e, px, py, pz)
    for a, b in zip(out, (pt, eta, phi), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_window_images_bin_around_the_jet_axis_without_preprocessing():
    # a jet at (eta, phi) = (1.2, 3.13) elongated along eta: a hard core on the axis, two
    # prongs at +-4 pixels in eta, one across the phi = +-pi boundary, one out of the window
    jet_eta, jet_phi = np.array([1.2]), np.array([3.13])
    d_eta, d_phi = PIXEL_SIZE
    eta = np.array([[1.2, 1.2 - 4.5 * d_eta, 1.2 + 4.5 * d_eta, 1.2 + 0.5 * d_eta, 1.2 + 0.9, 0]])
    phi = np.array([[3.13, 3.13, 3.13, wrap_phi(3.13 + 2.5 * d_phi), 3.13, 0]])
    pt = np.array([[300.0, 100.0, 50.0, 20.0, 7.0, 0.0]])
    image = window_images(pt, eta, phi, jet_eta, jet_phi)[0]
    assert image.shape == (N_PIXELS, N_PIXELS) and image.dtype == np.float32
    half = N_PIXELS // 2
    assert image[half, half] == np.float32(300.0 * WINDOW_SCALE)  # the axis: centre pixel
    assert image[half, half - 5] == np.float32(100.0 * WINDOW_SCALE)  # no flip: left stays left
    assert image[half, half + 4] == np.float32(50.0 * WINDOW_SCALE)
    assert image[half + 2, half] == np.float32(20.0 * WINDOW_SCALE)  # phi wrapped, not lost
    assert image[half].sum() == pytest.approx(450.0 * WINDOW_SCALE)  # no rotation: one row
    assert image.sum() == pytest.approx(470.0 * WINDOW_SCALE)  # the jet out of the window: 0
    hard = window_images(pt * 1e3, eta, phi, jet_eta, jet_phi)[0]
    assert hard.max() == np.float32(WINDOW_MAX)  # > 1024 GeV in a pixel saturates


def test_window_images_of_generated_jets_hold_their_pt_unsaturated(generated):
    jets = generated["qcd"]
    pt, eta, phi = np.moveaxis(jets["constituents"], -1, 0)
    window = window_images(pt, eta, phi, jets["jet_eta"], jets["jet_phi"])
    assert window.max() < WINDOW_MAX  # jets below 1024 GeV never saturate
    inside = window.sum((1, 2)) / WINDOW_SCALE
    assert np.all(inside <= pt.sum(1) * (1 + 1e-5)) and np.median(inside / pt.sum(1)) > 0.98
