"""Whole samples: the shards of :func:`src.data.generate.run_shard`, run and merged.

Work is cut into shards of a fixed number of accepted jets, each with its own seed, so
the result does not depend on how many workers ran it. Shards are written atomically
next to the output and a restarted run only makes the missing ones. One run at a time
may work on an output (a lock), and worker processes end with the run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from ..config import Profile, check_process, sample_path
from ..files import atomic_file, check_output, exclusive_lock
from ..processes import unordered, worker_pool
from . import datasets
from .generate import JET_FIELDS, GenerationSettings, run_shard

#: File in the shard folder naming the settings its shards are made with.
MANIFEST = "settings.json"


def _shard_path(folder: Path, index: int) -> Path:
    return folder / f"shard_{index:05d}.h5"


def _complete(path: Path, n_wanted: int, digest: str) -> bool:
    """Whether a shard file is whole and was made with the settings of ``digest``."""
    try:
        return (path.exists() and datasets.n_jets(path) == n_wanted
                and datasets.read_attrs(path).get("settings_hash") == digest)
    except datasets.DataError:
        return False


def _run_pending(settings: GenerationSettings, pending: list[int], workers: int,
                 scheduler: str | None) -> Iterable[tuple[int, dict, dict]]:
    """Yield (index, jets, stats) as shards finish, locally or on a dask cluster."""
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            futures = {client.submit(run_shard, settings, i, pure=False): i for i in pending}
            for future in dask_completed(futures):
                yield (futures[future], *future.result())
        return
    if workers <= 1:
        for i in pending:
            yield (i, *run_shard(settings, i))
        return
    with worker_pool(workers) as pool:
        for (_, index), (jets, stats) in unordered(pool, run_shard,
                                                   [(settings, i) for i in pending]):
            yield index, jets, stats


def _prepare_shards(settings: GenerationSettings, folder: Path) -> None:
    """Keep the shard folder only if its manifest names these settings, then write it."""
    manifest = folder / MANIFEST
    digest = settings.digest()
    if folder.exists() and (not manifest.exists()
                            or json.loads(manifest.read_text()).get("digest") != digest):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp"):
        stale.unlink()
    with atomic_file(manifest) as tmp:
        tmp.write_text(json.dumps({"digest": digest, **asdict(settings)}))


def _check_shards(settings: GenerationSettings, folder: Path) -> list[dict]:
    """Attributes of every shard, after checking that all were made with these settings."""
    digest = settings.digest()
    if json.loads((folder / MANIFEST).read_text()).get("digest") != digest:
        raise RuntimeError(f"{folder}: the shard manifest changed during the run")
    attrs = [datasets.read_attrs(_shard_path(folder, i)) for i in range(settings.n_shards)]
    for i, shard in enumerate(attrs):
        if shard.get("settings_hash") != digest:
            raise RuntimeError(f"{_shard_path(folder, i)}: made with other settings; "
                               "not merging it")
    return attrs


def generate(settings: GenerationSettings, out: Path, workers: int = 2,
             scheduler: str | None = None, progress: bool = True) -> dict:
    """Make (or finish) the sample ``out``; returns the summed shard statistics.

    Shards live in ``<out>.shards/`` until the merged file has been written; a shard
    folder made with other settings is discarded. The whole run holds the output's lock
    (:func:`src.files.exclusive_lock`): a second run on the same ``out`` stops with one line,
    so two runs can never mix their shards. Only shards whose own attributes carry this
    run's settings digest are merged.
    """
    from tqdm import tqdm

    out = check_output(out)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    folder = out.with_name(out.name + ".shards")
    digest = settings.digest()
    with exclusive_lock(out, "another generate run"):
        _prepare_shards(settings, folder)
        pending = [i for i in range(settings.n_shards)
                   if not _complete(_shard_path(folder, i), settings.shard_jets(i), digest)]
        done = settings.n_jets - sum(settings.shard_jets(i) for i in pending)
        totals = {"events": 0, "jets": 0, "accepted": 0, "pythia_s": 0.0, "processing_s": 0.0}
        bar = tqdm(total=settings.n_jets, initial=done, unit="jet", disable=not progress,
                   desc=f"{settings.process} jets", smoothing=0.1)
        for index, jets, stats in _run_pending(settings, pending, workers, scheduler):
            datasets.write_jets(_shard_path(folder, index), jets,
                                {"shard": index, "settings_hash": digest, **stats})
            for key in totals:
                totals[key] += stats[key]
            bar.update(stats["jets"])
        bar.close()

        shard_attrs = _check_shards(settings, folder)
        events = sum(int(a["events"]) for a in shard_attrs)
        attrs = {
            "process": settings.process,
            "events": events,
            "acceptance": sum(int(a["accepted"]) for a in shard_attrs) / events,
            "generator": "Pythia 8.317 + FastJet 3.5 (anti-kT R=0.8)",
            "seeds": [settings.shard_seed(i) for i in range(settings.n_shards)],
            "settings": asdict(settings),
            "settings_hash": digest,
        }
        with datasets.open_writer(out, settings.n_jets, JET_FIELDS, attrs) as writer:
            for index in range(settings.n_shards):
                writer.write(index * settings.shard_size,
                             datasets.read_jets(_shard_path(folder, index), JET_FIELDS))
        shutil.rmtree(folder)
    return totals


def profile_settings(profile: Profile, process: str) -> GenerationSettings:
    """Generation settings of one process in a profile."""
    return GenerationSettings(process=check_process(process), n_jets=profile.n_jets[process],
                              seed=profile.seed, shard_size=profile.shard_size,
                              detector=profile.detector)


def ensure_sample(profile: Profile, process: str, progress: bool = True) -> Path:
    """Path of a profile's sample, generated first if missing or made with other settings."""
    settings = profile_settings(profile, process)
    path = sample_path(profile, process)
    if path.exists():
        try:
            if datasets.read_attrs(path).get("settings_hash") == settings.digest():
                return path
        except datasets.DataError:
            pass
    generate(settings, path, workers=profile.workers, progress=progress)
    return path

