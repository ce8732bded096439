"""Detector stand-ins applied to the final-state particles of a batch of events.

Two models, chosen by name and recorded in every generated file:

``particle``
    Visible final-state particles (no neutrinos) with |eta| < 2.5, unsmeared.
``eflow``
    A simple energy-flow detector modelled on the Delphes ATLAS card: charged particles
    with pT > 0.5 GeV and |eta| < 2.5 are tracks (efficiency above 1 GeV 95% for |eta| < 1.5,
    85% beyond, 70% below 1 GeV;
    pT resolution sqrt(a^2 + (b pT)^2) with a, b = 0.01, 1.5e-4 for |eta| < 1.5 and
    0.02, 3.5e-4 beyond); everything else visible (photons, neutral hadrons and charged
    particles that were not tracked) deposits its energy in calorimeter cells of
    0.1 x 2pi/64 in (eta, phi) up to |eta| < 2.5: electromagnetic (photons, electrons)
    with sigma_E^2 = (0.0017 E)^2 + 0.101^2 E, hadronic with (0.0302 E)^2 + 0.5205^2 E +
    1.59^2 (|eta| < 1.7) or (0.05 E)^2 + 0.706^2 E (beyond), log-normal smearing, and
    thresholds of 0.5 GeV (ECAL) and 1 GeV (HCAL). A cell becomes a massless tower at
    its centre. There is no pile-up and no magnetic-field bending.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

DETECTORS = ("particle", "eflow")
ETA_MAX = 2.5
_EM = (11, 22)  # electrons and photons shower in the ECAL
_CELL_ETA = 0.1
_N_CELL_ETA = 50  # 2 * ETA_MAX / _CELL_ETA
_N_CELL_PHI = 64


@dataclass
class Particles:
    """Flat particle arrays of a batch of events; ``event`` is the event index."""

    event: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray
    charge: np.ndarray

    def select(self, mask: np.ndarray) -> Particles:
        return Particles(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @cached_property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @cached_property
    def eta(self) -> np.ndarray:
        return np.arcsinh(self.pz / np.maximum(self.pt, 1e-12))

    @cached_property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)


def check_detector(name: str) -> str:
    """Return ``name`` if it is a known detector model, else raise a one-line error."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")
    return name


def simulate(particles: Particles, detector: str, rng: np.random.Generator) -> Particles:
    """Apply a detector model; returns the reconstructed objects (charge 0 for towers)."""
    pid = np.abs(particles.pid)
    visible = (pid != 12) & (pid != 14) & (pid != 16)
    p = particles.select(visible & (np.abs(particles.eta) < ETA_MAX) & (particles.pt > 0))
    if check_detector(detector) == "particle":
        return p
    return _eflow(p, rng)


def _eflow(p: Particles, rng: np.random.Generator) -> Particles:
    pt, eta = p.pt, p.eta
    efficiency = np.where(pt > 1.0, np.where(np.abs(eta) < 1.5, 0.95, 0.85), 0.70)
    tracked = (p.charge != 0) & (pt > 0.5) & (rng.random(pt.size) < efficiency)
    tracks = p.select(tracked)
    central = np.abs(tracks.eta) < 1.5
    a = np.where(central, 0.01, 0.02)
    b = np.where(central, 1.5e-4, 3.5e-4)
    scale = np.maximum(1.0 + rng.normal(size=tracks.px.size) * np.hypot(a, b * tracks.pt), 0.0)
    tracks = Particles(tracks.event, tracks.px * scale, tracks.py * scale, tracks.pz * scale,
                       tracks.e * scale, tracks.pid, tracks.charge)

    calo = p.select(~tracked)
    em = np.isin(np.abs(calo.pid), _EM)
    n_keys = (int(p.event.max()) + 1 if p.event.size else 0) * _N_CELL_ETA * _N_CELL_PHI
    ecal = _cells(calo.select(em), rng, n_keys, hadronic=False)
    hcal = _cells(calo.select(~em), rng, n_keys, hadronic=True)
    towers = _towers(*_sum_by_key(np.concatenate([ecal[0], hcal[0]]),
                                  np.concatenate([ecal[1], hcal[1]]), n_keys))
    return Particles(*(np.concatenate([getattr(tracks, f), getattr(towers, f)])
                       for f in Particles.__dataclass_fields__))


def _sum_by_key(keys: np.ndarray, weights: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the summed weights of each."""
    sums = np.bincount(keys, weights=weights, minlength=n_keys)
    occupied = np.flatnonzero(np.bincount(keys, minlength=n_keys))
    return occupied, sums[occupied]


def _cell_eta(keys: np.ndarray) -> np.ndarray:
    return -ETA_MAX + ((keys // _N_CELL_PHI) % _N_CELL_ETA + 0.5) * _CELL_ETA


def _cells(p: Particles, rng: np.random.Generator, n_keys: int,
           hadronic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Energies summed per (event, cell), smeared and thresholded: (cell keys, energies)."""
    ieta = np.clip(np.floor((p.eta + ETA_MAX) / _CELL_ETA).astype(np.int64), 0, _N_CELL_ETA - 1)
    iphi = np.floor((p.phi + np.pi) / (2 * np.pi) * _N_CELL_PHI).astype(np.int64) % _N_CELL_PHI
    keys, energy = _sum_by_key((p.event * _N_CELL_ETA + ieta) * _N_CELL_PHI + iphi, p.e, n_keys)
    if hadronic:
        central = np.abs(_cell_eta(keys)) < 1.7
        var = np.where(central, (0.0302 * energy) ** 2 + 0.5205**2 * energy + 1.59**2,
                       (0.05 * energy) ** 2 + 0.706**2 * energy)
        threshold = 1.0
    else:
        var = (0.0017 * energy) ** 2 + 0.101**2 * energy
        threshold = 0.5
    # Log-normal with mean E and standard deviation sigma, as Delphes smears towers.
    sigma2 = np.log1p(var / np.maximum(energy, 1e-12) ** 2)
    smeared = energy * np.exp(rng.normal(size=energy.size) * np.sqrt(sigma2) - 0.5 * sigma2)
    keep = smeared > threshold
    return keys[keep], smeared[keep]


def _towers(keys: np.ndarray, energy: np.ndarray) -> Particles:
    """Massless towers at the centres of the cells ``keys``."""
    eta = _cell_eta(keys)
    phi = -np.pi + (keys % _N_CELL_PHI + 0.5) * (2 * np.pi / _N_CELL_PHI)
    pt = energy / np.cosh(eta)
    zeros = np.zeros(keys.size, dtype=np.int64)
    return Particles(keys // (_N_CELL_ETA * _N_CELL_PHI), pt * np.cos(phi), pt * np.sin(phi),
                     pt * np.sinh(eta), energy, zeros, zeros.astype(np.float64))
