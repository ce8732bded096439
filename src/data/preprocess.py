"""Jet-image preprocessing of the Top Tagging reference recipe, vectorized over jets.

Constituents come as zero-padded arrays ``pt, eta, phi`` of shape (N, M). Each jet is
centred on its pT-weighted centroid, rotated so that the major principal axis of its
pT-weighted second-moment tensor points along phi', flipped so that the quadrant
eta' < 0, phi' < 0 carries the most pT, and binned into 40 x 40 pixels of
(0.029, 0.035) in (eta', phi'); the pixel intensity is the summed constituent pT.

:func:`window_images` is what a Level-1 trigger sees instead: the same grid around the jet
finder's axis, no centring, rotation or flip, and pT times the fixed :data:`WINDOW_SCALE`.
"""

from __future__ import annotations

import numpy as np

from ..config import N_PIXELS, PIXEL_SIZE


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Map angles to [-pi, pi)."""
    return (np.asarray(phi) + np.pi) % (2.0 * np.pi) - np.pi


def standardize(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the (eta', phi') of every constituent after centring, rotation and flip.

    Padded entries (pt == 0) carry no weight and come back as 0.
    """
    pt = np.asarray(pt, dtype=np.float64)
    mask = pt > 0
    weight = pt / np.maximum(pt.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    x = np.where(mask, np.asarray(eta, np.float64) - np.asarray(jet_eta, np.float64)[:, None], 0)
    y = np.where(mask, wrap_phi(np.asarray(phi, np.float64) - np.asarray(jet_phi)[:, None]), 0)

    x = np.where(mask, x - (weight * x).sum(axis=1, keepdims=True), 0.0)
    y = np.where(mask, y - (weight * y).sum(axis=1, keepdims=True), 0.0)

    sxx = (weight * x * x).sum(axis=1)
    syy = (weight * y * y).sum(axis=1)
    sxy = (weight * x * y).sum(axis=1)
    theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)  # major axis, measured from eta
    angle = (0.5 * np.pi - theta)[:, None]  # rotation that puts it on phi'
    cos, sin = np.cos(angle), np.sin(angle)
    xr = cos * x - sin * y
    yr = sin * x + cos * y

    # pT in the four quadrants (eta' < 0?, phi' < 0?); flip the brightest onto (<0, <0).
    neg_x, neg_y = xr < 0, yr < 0
    quadrant_pt = np.stack(
        [(pt * (qx == neg_x) * (qy == neg_y)).sum(axis=1) for qx in (True, False)
         for qy in (True, False)],
        axis=1,
    )
    best = np.argmax(quadrant_pt, axis=1)
    sign_x = np.where(best < 2, 1.0, -1.0)[:, None]
    sign_y = np.where(best % 2 == 0, 1.0, -1.0)[:, None]
    return np.where(mask, sign_x * xr, 0.0), np.where(mask, sign_y * yr, 0.0)


def pixelize(pt: np.ndarray, eta_p: np.ndarray, phi_p: np.ndarray) -> np.ndarray:
    """Bin standardized constituents into (N, 40, 40) float32 images of summed pT.

    Row = phi' bin, column = eta' bin, both increasing with the coordinate; bin edges
    are (k - 20) * pixel size for k = 0..40; constituents outside the window are dropped.
    """
    pt = np.asarray(pt, dtype=np.float64)
    n_jets = pt.shape[0]
    half = N_PIXELS // 2
    col = np.floor(eta_p / PIXEL_SIZE[0]).astype(np.int64) + half
    row = np.floor(phi_p / PIXEL_SIZE[1]).astype(np.int64) + half
    keep = (pt > 0) & (col >= 0) & (col < N_PIXELS) & (row >= 0) & (row < N_PIXELS)
    jet = np.broadcast_to(np.arange(n_jets)[:, None], pt.shape)
    flat = (jet[keep] * N_PIXELS + row[keep]) * N_PIXELS + col[keep]
    counts = np.bincount(flat, weights=pt[keep], minlength=n_jets * N_PIXELS * N_PIXELS)
    return counts.reshape(n_jets, N_PIXELS, N_PIXELS).astype(np.float32)


def jet_images(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray
) -> np.ndarray:
    """Full preprocessing: constituents (N, M) and jet axes (N,) to (N, 40, 40) images in GeV."""
    eta_p, phi_p = standardize(pt, eta, phi, jet_eta, jet_phi)
    return pixelize(pt, eta_p, phi_p)


#: Fixed scale of :func:`window_images` [1/GeV]: 2^-10, so that 1024 GeV is one unit. The
#: default profile's jets have 550-650 GeV, so no pixel (not even a whole jet) reaches the
#: 1.0 that the student's ``ap_ufixed<16,0>`` input cannot hold; its 2^-16 step is 1/64 GeV.
WINDOW_SCALE = 2.0**-10
#: Largest window-image pixel: that of ``ap_ufixed<16,0>``; a pixel above it saturates, as a
#: trigger primitive does (more than 1024 GeV in one pixel).
WINDOW_MAX = 1.0 - 2.0**-16


def window_images(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray
) -> np.ndarray:
    """Constituents binned on the :func:`pixelize` grid around the jet axis (N,), with no
    centring on the centroid, no rotation, no flip and no per-jet normalization: pixel =
    summed pT [GeV] times :data:`WINDOW_SCALE`, saturated at :data:`WINDOW_MAX` (float32)."""
    eta_p = np.asarray(eta, np.float64) - np.asarray(jet_eta, np.float64)[:, None]
    phi_p = wrap_phi(np.asarray(phi, np.float64) - np.asarray(jet_phi, np.float64)[:, None])
    # padded entries (pt == 0) are dropped by pixelize; the scale is a power of two: exact
    images = pixelize(pt, eta_p, phi_p) * np.float32(WINDOW_SCALE)
    return np.minimum(images, np.float32(WINDOW_MAX))


def normalize(images: np.ndarray) -> np.ndarray:
    """Scale every image to unit sum (the network input, float32).

    Sums and quotients are computed in float64, so raw pixels beyond the float32 range
    (a float64 file) are scaled before the cast. An empty image, or one whose pixel sum is
    not finite (a NaN or infinite pixel, or an overflowing sum), is an error naming the
    first such index.
    """
    x = np.asarray(images)
    x = x if x.dtype == np.float32 else x.astype(np.float64)
    totals = x.reshape(len(x), -1).sum(axis=1, dtype=np.float64)
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        raise ValueError(f"{empty.size} empty image(s) cannot be normalized (first at index {empty[0]})")
    infinite = np.flatnonzero(~np.isfinite(totals))
    if infinite.size:
        raise ValueError(f"{infinite.size} image(s) have a pixel sum that is not finite "
                         f"(first at index {infinite[0]})")
    return (x / totals[:, None, None]).astype(np.float32)


def four_vectors_to_ptetaphi(
    e: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pt, eta, phi) of four-vectors; zero-padded entries (pt == 0) come back as zeros."""
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    valid = (pt > 0) & (np.asarray(e) > 0)
    safe_pt = np.where(valid, pt, 1.0)
    eta = np.where(valid, np.arcsinh(pz / safe_pt), 0.0)
    phi = np.where(valid, np.arctan2(py, px), 0.0)
    return np.where(valid, pt, 0.0), eta, phi
