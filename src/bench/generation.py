"""Generation benchmark: accepted jets per second per process and where the time goes."""

from __future__ import annotations

import time

from ..data.generate import GenerationSettings, run_shard


def generation_rate(process: str, n_jets: int = 1000, seed: int = 11,
                    detector: str = "eflow") -> dict:
    """Generate ``n_jets`` accepted jets in this process and split the wall time.

    ``pythia_share`` is the time inside Pythia (initialization and ``nextBatch``) over the
    whole wall time of the shard; the rest is ours: detector, clustering, selection, truth
    matching, preprocessing.
    """
    settings = GenerationSettings(process=process, n_jets=n_jets, shard_size=n_jets, seed=seed,
                                  detector=detector)
    start = time.perf_counter()
    _, stats = run_shard(settings, 0)
    wall = time.perf_counter() - start
    pythia = stats["pythia_s"]
    return {
        "process": process,
        "detector": detector,
        "jets": stats["jets"],
        "events": stats["events"],
        "acceptance": stats["accepted"] / stats["events"],
        "wall_s": wall,
        "jets_per_s": stats["jets"] / wall,
        "pythia_s": pythia,
        "ours_s": wall - pythia,
        "pythia_share": pythia / wall,
    }
