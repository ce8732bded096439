"""Jet samples from Pythia 8 + FastJet following the Top Tagging reference recipe.

14 TeV pp collisions without multiparton interactions or pile-up, generated in the
hard-scattering window 550 < pTHat < 650 GeV; after a detector stand-in
(:mod:`src.data.detector`), anti-kT R = 0.8 jets; the leading jet of each event is kept if
550 < pT < 650 GeV and |eta| < 2. Signal jets must contain the resonance (top or W,
decaying hadronically) and all of its decay partons within R of the jet axis.

:func:`run_shard` makes one shard of a sample, a fixed number of accepted jets from its
own seed; :mod:`src.data.samples` runs the shards of a whole sample and merges them.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..config import MAX_CONSTITUENTS, PROCESSES, check_process, settings_hash
from . import datasets
from .detector import Particles, check_detector, simulate
from .preprocess import four_vectors_to_ptetaphi, jet_images

#: Pythia settings that choose the hard process; W bosons decay hadronically only.
PYTHIA_PROCESSES: dict[str, list[str]] = {
    "qcd": ["HardQCD:all = on"],
    "top": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5"],
    "w": ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
          "24:onMode = off", "24:onIfAny = 1 2 3 4 5"],
}
#: Resonance whose hadronic decay a signal jet must contain: (PDG id, number of partons).
RESONANCES: dict[str, tuple[int, int]] = {"top": (6, 3), "w": (24, 2)}
#: Bumped whenever a code change alters the generated jets, so cached samples are remade.
GENERATOR_VERSION = 2
JET_FIELDS = ("images", "constituents", "jet_pt", "jet_eta", "jet_phi", "jet_mass",
              "n_constituents", "labels")


@dataclass(frozen=True)
class GenerationSettings:
    """Everything a generated sample depends on; stored in the file and hashed for caching."""

    process: str
    n_jets: int
    seed: int = 1
    shard_size: int = 2000
    detector: str = "eflow"
    ecm: float = 14000.0
    pthat_min: float = 550.0
    pthat_max: float = 650.0
    jet_pt_min: float = 550.0
    jet_pt_max: float = 650.0
    jet_eta_max: float = 2.0
    radius: float = 0.8
    batch_events: int = 500
    version: int = GENERATOR_VERSION

    def __post_init__(self):
        check_process(self.process)
        check_detector(self.detector)
        if self.n_jets <= 0 or self.shard_size <= 0:
            raise ValueError("the number of jets and the shard size must be positive")
        if self.seed < 0:
            raise ValueError(f"the seed must be a non-negative integer, got {self.seed}")

    @property
    def n_shards(self) -> int:
        return -(-self.n_jets // self.shard_size)

    def shard_jets(self, index: int) -> int:
        return min(self.shard_size, self.n_jets - index * self.shard_size)

    def shard_seed(self, index: int) -> int:
        """Pythia seed of one shard (1 .. 900,000,000), fixed by the sample seed."""
        entropy = [self.seed, zlib.crc32(self.process.encode()), index]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0] % 900_000_000) + 1

    def digest(self) -> str:
        return settings_hash(asdict(self))


def make_pythia(settings: GenerationSettings, seed: int):
    """An initialized, quiet Pythia instance for one shard."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in [
        f"Beams:eCM = {settings.ecm}",
        f"PhaseSpace:pTHatMin = {settings.pthat_min}",
        f"PhaseSpace:pTHatMax = {settings.pthat_max}",
        "PartonLevel:MPI = off",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        *PYTHIA_PROCESSES[settings.process],
    ]:
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialize for process {settings.process!r}")
    return pythia


def _flat(events) -> dict[str, np.ndarray]:
    """Flat numpy arrays of the event record of a batch, with event index and offsets."""
    import awkward as ak

    counts = ak.to_numpy(ak.num(events.prt))
    record = ak.flatten(events.prt)
    flat = {name: ak.to_numpy(record[name]) for name in ("id", "status", "mother1", "daughter1")}
    momentum = record.p
    for name in ("px", "py", "pz", "e"):
        flat[name] = ak.to_numpy(momentum[name])
    flat["event"] = np.repeat(np.arange(len(counts)), counts)
    flat["offset"] = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return flat


def _delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _decays(flat: dict, resonance: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each charge sign, masks of the resonance's last copy and of its decay partons.

    Decay partons are the first quark copies (|status| 23) whose mother is the resonance or
    its W; they are grouped by the sign of their mother's id (t and W+ give +1). The
    resonance direction is that of its last copy before the decay.
    """
    pid, status = flat["id"], np.abs(flat["status"])
    row = flat["offset"][flat["event"]]
    mother_id = pid[row + flat["mother1"]]
    parton = (np.abs(pid) <= 5) & (status == 23) & np.isin(np.abs(mother_id), (resonance, 24))
    daughter = np.clip(row + flat["daughter1"], 0, len(pid) - 1)
    last_copy = (np.abs(pid) == resonance) & (pid[daughter] != pid)
    return {sign: (last_copy & (np.sign(pid) == sign), parton & (np.sign(mother_id) == sign))
            for sign in (1, -1)}


def _direction(flat: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event index, eta and phi of the record entries in ``mask``."""
    _, eta, phi = four_vectors_to_ptetaphi(*(flat[k][mask] for k in ("e", "px", "py", "pz")))
    return flat["event"][mask], eta, phi


def _all_within(flat: dict, mask: np.ndarray, axis_eta: np.ndarray, axis_phi: np.ndarray,
                need: int, radius: float) -> np.ndarray:
    """Per event: exactly ``need`` entries of ``mask``, all within ``radius`` of the axis."""
    n_events = flat["offset"].size
    event, eta, phi = _direction(flat, mask)
    inside = _delta_r(eta, phi, axis_eta[event], axis_phi[event]) < radius
    total = np.bincount(event, minlength=n_events)
    return (total == need) & (np.bincount(event, weights=inside, minlength=n_events) == need)


def truth_matched(flat: dict, jet_eta: np.ndarray, jet_phi: np.ndarray, resonance: int,
                  n_partons: int, radius: float) -> np.ndarray:
    """Per event, whether its jet (axis ``jet_eta``, ``jet_phi``) contains a resonance and all
    of its decay partons within ``radius``."""
    matched = np.zeros(flat["offset"].size, dtype=bool)
    for copy, partons in _decays(flat, resonance).values():
        matched |= (_all_within(flat, copy, jet_eta, jet_phi, 1, radius)
                    & _all_within(flat, partons, jet_eta, jet_phi, n_partons, radius))
    return matched


def could_match(flat: dict, resonance: int, n_partons: int, radius: float) -> np.ndarray:
    """Per event, a necessary condition for :func:`truth_matched`: some resonance has all its
    decay partons within 2R of itself (both lie within R of the jet axis). Events failing
    it skip the detector and the clustering, so no jet that could be matched is lost."""
    possible = np.zeros(flat["offset"].size, dtype=bool)
    for copy, partons in _decays(flat, resonance).values():
        axis_eta = np.zeros(flat["offset"].size)
        axis_phi = np.zeros(flat["offset"].size)
        event, eta, phi = _direction(flat, copy)
        axis_eta[event], axis_phi[event] = eta, phi
        possible |= (np.bincount(event, minlength=axis_eta.size) == 1) & _all_within(
            flat, partons, axis_eta, axis_phi, n_partons, 2 * radius)
    return possible


def process_batch(events, settings: GenerationSettings, rng: np.random.Generator,
                  charge: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """Detector, clustering, selection, truth matching and images for a batch of events."""
    import awkward as ak
    import fastjet

    flat = _flat(events)
    final = flat["status"] > 0
    if settings.process in RESONANCES:
        resonance, n_partons = RESONANCES[settings.process]
        final &= could_match(flat, resonance, n_partons, settings.radius)[flat["event"]]
    particles = Particles(flat["event"][final], flat["px"][final], flat["py"][final],
                          flat["pz"][final], flat["e"][final], flat["id"][final],
                          charge(flat["id"][final]))
    objects = simulate(particles, settings.detector, rng)
    order = np.argsort(objects.event, kind="stable")
    n_events = flat["offset"].size
    counts = np.bincount(objects.event, minlength=n_events)
    vectors = ak.unflatten(ak.zip({"px": objects.px[order], "py": objects.py[order],
                                   "pz": objects.pz[order], "E": objects.e[order]}), counts)
    sequence = fastjet.ClusterSequence(vectors, fastjet.JetDefinition(fastjet.antikt_algorithm,
                                                                      settings.radius))
    jets = sequence.inclusive_jets(min_pt=settings.jet_pt_min)
    has_jet = ak.to_numpy(ak.num(jets)) > 0
    jet_pt = np.hypot(jets.px, jets.py)
    leading = ak.argmax(jet_pt, axis=1, keepdims=True)
    first = ak.firsts(jets[leading])
    lead = {k: ak.to_numpy(ak.fill_none(first[k], 0.0)) for k in ("E", "px", "py", "pz")}
    pt, eta, phi = four_vectors_to_ptetaphi(lead["E"], lead["px"], lead["py"], lead["pz"])
    keep = (has_jet & (pt > settings.jet_pt_min) & (pt < settings.jet_pt_max)
            & (np.abs(eta) < settings.jet_eta_max))
    if settings.process in RESONANCES:
        keep &= truth_matched(flat, eta, phi, resonance, n_partons, settings.radius)
    selected = np.flatnonzero(keep)
    if selected.size == 0:
        return {name: np.zeros((0, *datasets.FIELDS[name][1]), datasets.FIELDS[name][0])
                for name in JET_FIELDS}

    constituents = ak.firsts(sequence.constituents(min_pt=settings.jet_pt_min)[leading])[selected]
    table, n_const = _padded_constituents(constituents)
    mass2 = lead["E"] ** 2 - lead["px"] ** 2 - lead["py"] ** 2 - lead["pz"] ** 2
    jet_eta, jet_phi = eta[selected].astype(np.float32), phi[selected].astype(np.float32)
    return {
        "images": jet_images(table[..., 0], table[..., 1], table[..., 2], jet_eta, jet_phi),
        "constituents": table,
        "jet_pt": pt[selected].astype(np.float32),
        "jet_eta": jet_eta,
        "jet_phi": jet_phi,
        "jet_mass": np.sqrt(np.clip(mass2[selected], 0, None)).astype(np.float32),
        "n_constituents": n_const,
        "labels": np.full(selected.size, PROCESSES[settings.process], np.int8),
    }


def _padded_constituents(constituents) -> tuple[np.ndarray, np.ndarray]:
    """(pt, eta, phi) of up to 200 leading constituents per jet, zero padded, and their count."""
    import awkward as ak

    counts = ak.to_numpy(ak.num(constituents))
    pt, eta, phi = four_vectors_to_ptetaphi(
        *(ak.to_numpy(ak.flatten(constituents[k])) for k in ("E", "px", "py", "pz")))
    jet = np.repeat(np.arange(counts.size), counts)
    order = np.lexsort((-pt, jet))
    rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < MAX_CONSTITUENTS
    table = np.zeros((counts.size, MAX_CONSTITUENTS, 3), np.float32)
    table[jet[keep], rank[keep]] = np.stack([pt, eta, phi], axis=-1)[order][keep]
    return table, np.minimum(counts, MAX_CONSTITUENTS).astype(np.int32)


def _quiet_fastjet() -> None:
    """Keep FastJet's banner out of logs and notebooks (FastJet is cited in the book)."""
    from fastjet import _swig

    _swig.ClusterSequence.set_fastjet_banner_stream(None)


def run_shard(settings: GenerationSettings, index: int) -> tuple[dict[str, np.ndarray], dict]:
    """Generate one shard; returns its jets and statistics.

    ``pythia_s`` is the time spent inside Pythia (initialization and event generation),
    ``processing_s`` ours (detector, clustering, selection, matching, images); ``accepted``
    counts every accepted jet, ``jets`` those kept (the first ``shard_jets``).
    """
    seed = settings.shard_seed(index)
    n_wanted = settings.shard_jets(index)
    _quiet_fastjet()
    start = time.perf_counter()
    pythia = make_pythia(settings, seed)
    stats = {"events": 0, "jets": 0, "accepted": 0,
             "pythia_s": time.perf_counter() - start, "processing_s": 0.0}
    rng = np.random.default_rng(seed)
    charges = {0: 0.0}

    def charge(pid: np.ndarray) -> np.ndarray:
        """Electric charges, looked up in Pythia's particle table once per species."""
        species, inverse = np.unique(pid, return_inverse=True)
        for p in species.tolist():
            if p not in charges:
                charges[p] = pythia.particleData.charge(p)
        return np.array([charges[p] for p in species.tolist()])[inverse]

    parts: list[dict[str, np.ndarray]] = []
    while stats["accepted"] < n_wanted:
        t0 = time.perf_counter()
        events = pythia.nextBatch(settings.batch_events)
        t1 = time.perf_counter()
        jets = process_batch(events, settings, rng, charge)
        stats["pythia_s"] += t1 - t0
        stats["processing_s"] += time.perf_counter() - t1
        stats["events"] += len(events)
        stats["accepted"] += len(jets["images"])
        parts.append(jets)
        if stats["events"] >= 100 * settings.batch_events and stats["accepted"] == 0:
            raise RuntimeError(f"no jet accepted in {stats['events']} {settings.process} events")
    out = {name: np.concatenate([p[name] for p in parts])[:n_wanted] for name in JET_FIELDS}
    stats["jets"] = n_wanted
    return out, stats
