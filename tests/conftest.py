"""Shared fixtures: small generated samples, made once per test session."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.generate import GenerationSettings, run_shard


@pytest.fixture(scope="session")
def generated():
    """A few hundred accepted jets of each process, generated in this process."""
    samples = {}
    for process, n in (("qcd", 300), ("top", 300), ("w", 150)):
        settings = GenerationSettings(process=process, n_jets=n, shard_size=n, seed=5)
        samples[process], _ = run_shard(settings, 0)
    return samples


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
