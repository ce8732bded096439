"""Event generation: schema, selection windows, truth matching, physics, resumption."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from src.config import ROOT
from src.data.datasets import FIELDS, read_attrs, read_jets
from src.data.generate import GenerationSettings
from src.data.samples import generate


def test_schema_and_selection_windows(generated):
    for process, jets in generated.items():
        assert set(jets) == set(FIELDS)
        for name, (dtype, shape) in FIELDS.items():
            assert jets[name].dtype == dtype and jets[name].shape[1:] == shape
        assert np.all((jets["jet_pt"] > 550) & (jets["jet_pt"] < 650)), process
        assert np.all(np.abs(jets["jet_eta"]) < 2.0), process
        assert np.all(jets["labels"] == (process != "qcd"))
        pt = jets["constituents"][..., 0]
        assert np.all(np.diff(pt, axis=1) <= 0)  # pT ordered, zero padded at the end
        assert np.all((pt > 0).sum(1) == jets["n_constituents"])
        # the image holds the constituents inside the window: at most their summed pT
        assert np.all(jets["images"].sum((1, 2)) <= pt.sum(1) * (1 + 1e-5))
        assert np.median(jets["images"].sum((1, 2)) / pt.sum(1)) > 0.97


def test_top_mass_peak_and_falling_qcd(generated):
    bins = np.arange(0, 310, 10)
    top, _ = np.histogram(generated["top"]["jet_mass"], bins)
    peak = bins[np.argmax(top)] + 5
    assert 165 <= peak <= 185, peak
    w, _ = np.histogram(generated["w"]["jet_mass"], bins)
    assert 70 <= bins[np.argmax(w)] + 5 <= 95
    qcd = generated["qcd"]["jet_mass"]
    assert np.median(qcd) < 100 and np.mean((qcd > 150) & (qcd < 200)) < 0.15
    counts, _ = np.histogram(qcd, np.arange(50, 301, 50))
    assert np.all(np.diff(counts) <= 5)  # falling above 50 GeV (within a statistical slack)


def test_truth_matching_needs_all_partons(generated):
    # matched top jets are three-prong: a wide mass window holds nearly all of them
    mass = generated["top"]["jet_mass"]
    assert np.mean((mass > 120) & (mass < 230)) > 0.85


def test_same_seed_same_jets_and_shards_independent_of_workers(tmp_path):
    settings = GenerationSettings(process="qcd", n_jets=120, shard_size=60, seed=9)
    generate(settings, tmp_path / "a.h5", workers=1, progress=False)
    generate(settings, tmp_path / "b.h5", workers=2, progress=False)
    a, b = read_jets(tmp_path / "a.h5"), read_jets(tmp_path / "b.h5")
    for name in FIELDS:
        np.testing.assert_array_equal(a[name], b[name])
    attrs = read_attrs(tmp_path / "a.h5")
    assert attrs["settings"]["seed"] == 9 and len(attrs["seeds"]) == 2
    assert not (tmp_path / "a.h5.shards").exists()


def test_interrupted_generation_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "top.h5"
    command = [sys.executable, "-m", "src", "generate", "--process", "top", "--n", "200",
               "--shard-size", "40", "--seed", "4", "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    shards = out.with_name(out.name + ".shards")
    deadline = time.time() + 120
    while len(list(shards.glob("shard_*.h5"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and 2 <= len(list(shards.glob("shard_*.h5"))) < 5
    (shards / "shard_00004.h5").write_bytes(b"partial")  # a corrupt leftover is redone
    assert subprocess.run(command, cwd=ROOT, capture_output=True).returncode == 0

    settings = GenerationSettings(process="top", n_jets=200, shard_size=40, seed=4)
    generate(settings, tmp_path / "clean.h5", workers=1, progress=False)
    resumed, clean = read_jets(out), read_jets(tmp_path / "clean.h5")
    for name in FIELDS:
        np.testing.assert_array_equal(resumed[name], clean[name])
    flat = resumed["images"].reshape(200, -1)
    assert len(np.unique(flat, axis=0)) == 200


def test_changed_settings_discard_old_shards(tmp_path):
    out = tmp_path / "w.h5"
    shards = out.with_name(out.name + ".shards")
    shards.mkdir()
    (shards / "settings.json").write_text('{"digest": "other"}')
    (shards / "shard_00000.h5").write_bytes(b"stale")
    generate(GenerationSettings(process="w", n_jets=30, shard_size=30, seed=2), out,
             workers=1, progress=False)
    assert len(read_jets(out)["images"]) == 30


@pytest.mark.parametrize("kwargs, message", [
    ({"process": "zprime", "n_jets": 5}, "unknown process 'zprime'"),
    ({"process": "qcd", "n_jets": 5, "detector": "cms"}, "unknown detector 'cms'"),
    ({"process": "qcd", "n_jets": 0}, "must be positive"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GenerationSettings(**kwargs)


def test_dask_scheduler_runs_the_same_shards(tmp_path):
    distributed = pytest.importorskip("distributed")
    settings = GenerationSettings(process="qcd", n_jets=40, shard_size=20, seed=12)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        generate(settings, tmp_path / "dask.h5", scheduler=cluster.scheduler_address,
                 progress=False)
    generate(settings, tmp_path / "local.h5", workers=1, progress=False)
    np.testing.assert_array_equal(read_jets(tmp_path / "dask.h5")["images"],
                                  read_jets(tmp_path / "local.h5")["images"])
