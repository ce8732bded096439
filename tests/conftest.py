"""Fixtures shared by every test file: small generated samples (made once per session) and
a seeded random generator. Plain helpers (test images, stand-in encoders, the tiny model
specs, the reader of glued notebook values) live in ``fakes.py``; ``tests/`` has no
``__init__.py``, so pytest puts it on ``sys.path`` and test files import them as ``from fakes
import ...``."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.generate import GenerationSettings, run_shard


@pytest.fixture(scope="session")
def generated() -> dict[str, dict[str, np.ndarray]]:
    """A few hundred accepted jets of each process, generated in this process."""
    samples = {}
    for process, n in (("qcd", 300), ("top", 300), ("w", 150)):
        settings = GenerationSettings(process=process, n_jets=n, shard_size=n, seed=5)
        samples[process], _ = run_shard(settings, 0)
    return samples


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed for each test."""
    return np.random.default_rng(1234)
