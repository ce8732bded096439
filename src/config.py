"""Paths, run profiles and seeds shared by the command line, the notebooks and the tests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(os.environ.get("JVAE_ROOT", Path(__file__).resolve().parent.parent))
DATA_DIR = ROOT / "data"
MODELS_DIR = ROOT / "models"
BOOK_DIR = ROOT / "book"
NOTEBOOKS_DIR = ROOT / "notebooks"
BUILD_DIR = ROOT / "build"

#: Processes the generator knows, with the label their jets carry (1 = signal, the anomaly).
PROCESSES: dict[str, int] = {"qcd": 0, "top": 1, "w": 1}

#: Jet-image geometry of the Top Tagging reference recipe.
N_PIXELS = 40
PIXEL_SIZE = (0.029, 0.035)  # (d eta', d phi')
MAX_CONSTITUENTS = 200


@dataclass(frozen=True)
class Profile:
    """Everything that sizes a run; every random number is drawn from ``seed``."""

    name: str
    seed: int
    n_jets: dict[str, int]
    shard_size: int
    detector: str = "eflow"
    workers: int = 2
    epochs: int = 8
    batch_size: int = 128
    model: dict = field(default_factory=dict)  # overrides of src.model.ModelSpec
    train: dict = field(default_factory=dict)  # overrides of src.train.TrainSpec
    n_embed: int = 2000  # jets per class in the latent-space embeddings
    #: Test jets emulated through the reduced encoder's C++ (half QCD, half top; about 8 min of
    #: g++ and 7-12 images/s per core); 0 compiles nothing unless a library is already there.
    fpga_reduced_images: int = 2000
    #: Test jets emulated through the student's other hls4ml projects (io_stream, tuned reuse)
    #: to check that they compute exactly what its reference project computes.
    fpga_variant_images: int = 2000
    #: Budget of every run of chapter 7's recipe scan: training jets of the model's class
    #: (a fifth as many for validation), epochs, and training seeds per recipe.
    scan_jets: int = 8000
    scan_epochs: int = 2
    scan_seeds: int = 3

    def generation_settings(self, process: str) -> dict:
        """The settings a generated sample depends on (a changed value regenerates it)."""
        return {
            "process": process,
            "n_jets": self.n_jets[process],
            "shard_size": self.shard_size,
            "detector": self.detector,
            "seed": self.seed,
        }


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        seed=7,
        n_jets={"qcd": 600, "top": 400, "w": 200},
        shard_size=200,
        epochs=2,
        batch_size=64,
        model={"filters": (8, 8, 16, 16), "depths": (1, 1, 1, 1), "groups": 4,
               "decoder_filters": (8, 8, 8, 8), "decoder_base": 16},
        n_embed=150,
        fpga_reduced_images=0,
        fpga_variant_images=250,
        scan_jets=200,
        scan_epochs=1,
        scan_seeds=2,
    ),
    "default": Profile(
        name="default",
        seed=2023,
        n_jets={"qcd": 40000, "top": 40000, "w": 10000},
        shard_size=2000,
        epochs=8,
        # The paper's encoder with a slimmer decoder (same topology): trains ~7x faster on a
        # 2-core CPU; the encoder that the anomaly scores and the FPGA study use is unchanged.
        model={"decoder_base": 64, "decoder_filters": (16, 32, 16, 8)},
    ),
    "paper": Profile(
        name="paper",
        seed=2023,
        n_jets={"qcd": 200000, "top": 200000, "w": 50000},
        shard_size=5000,
        epochs=8,
        n_embed=5000,
        fpga_reduced_images=4000,
    ),
}


def get_profile(name: str) -> Profile:
    """Look a profile up by name, with a one-line error for an unknown one."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r} (choose from {', '.join(PROFILES)})"
        ) from None


def check_process(process: str) -> str:
    """Return ``process`` if the generator knows it, else raise a one-line error."""
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r} (choose from {', '.join(PROCESSES)})")
    return process


def jets_dir(profile: Profile) -> Path:
    """Folder of the generated samples of a profile."""
    return DATA_DIR / "jets" / profile.name


def sample_path(profile: Profile, process: str) -> Path:
    """HDF5 file of one process in one profile."""
    return jets_dir(profile) / f"{check_process(process)}.h5"


def models_dir(profile: Profile) -> Path:
    """Folder of the trained models of a profile (``models/default`` is shipped)."""
    return MODELS_DIR / profile.name


def settings_hash(settings: dict) -> str:
    """Short stable digest of a settings dictionary, used to invalidate caches."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def profile_dict(profile: Profile) -> dict:
    """The profile as plain JSON-able data."""
    return asdict(profile)
