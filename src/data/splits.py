"""Seeded train / validation / test splits of a sample, and the labelled sets the book uses.

Every chapter and every model reads its jets through :func:`split_images` or
:func:`labelled`: the same profile gives the same jets everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Profile
from .datasets import n_jets, read_jets, read_window_images
from .preprocess import normalize
from .samples import ensure_sample

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Row indices of one sample: fit (training), validation and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(n: int, seed: int, test_fraction: float = 0.25,
                  val_fraction: float = 0.15) -> Split:
    """Seeded 75/25 train/test split; ``val_fraction`` of the training part is validation."""
    if n <= 0:
        raise ValueError("cannot split an empty sample")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    test, train = order[:n_test], order[n_test:]
    n_val = int(round(len(train) * val_fraction))
    return Split(train=np.sort(train[n_val:]), val=np.sort(train[:n_val]), test=np.sort(test))


def part_index(path: Path, seed: int, part: str) -> np.ndarray:
    """Row indices of one part ('train', 'val' or 'test') of a sample file."""
    if part not in PARTS:
        raise ValueError(f"unknown split part {part!r}; expected one of {', '.join(PARTS)}")
    return getattr(split_indices(n_jets(path), seed), part)


def load_split(path: Path, seed: int, part: str, fields: Sequence[str] = ("images",),
               normalized: bool = True) -> dict[str, np.ndarray]:
    """One part ('train', 'val' or 'test') of a sample; images normalized to unit sum."""
    data = read_jets(path, fields, part_index(path, seed, part))
    if normalized and "images" in data:
        data["images"] = normalize(data["images"])
    return data


def split(profile: Profile, process: str, part: str,
          fields: tuple[str, ...] = ("images",)) -> dict[str, np.ndarray]:
    """Fields of one split part (``train``, ``val`` or ``test``) of a profile's sample.

    The sample is generated first if it is missing; images are normalized to unit sum.
    """
    path = ensure_sample(profile, process, progress=False)
    return load_split(path, profile.seed, part, fields=fields)


def split_images(profile: Profile, process: str, part: str) -> np.ndarray:
    """Unit-sum images of one split part of a profile's sample."""
    return split(profile, process, part)["images"]


def split_window_images(profile: Profile, process: str, part: str) -> np.ndarray:
    """Window images (:func:`src.data.preprocess.window_images`: no per-jet preprocessing)
    of one split part, the jets of :func:`split_images` in the same order."""
    path = ensure_sample(profile, process, progress=False)
    return read_window_images(path, part_index(path, profile.seed, part))


def binary_labels(n_background: int, n_signal: int) -> np.ndarray:
    """``n_background`` zeros then ``n_signal`` ones (float32): the label of a stacked set."""
    return np.concatenate([np.zeros(n_background, np.float32), np.ones(n_signal, np.float32)])


def labelled(profile: Profile, part: str, background: str = "qcd",
             signal: str = "top") -> tuple[np.ndarray, np.ndarray]:
    """Background (label 0) then signal (label 1) images of one split part, and the labels."""
    bg, sig = split_images(profile, background, part), split_images(profile, signal, part)
    return np.concatenate([bg, sig]), binary_labels(len(bg), len(sig))
