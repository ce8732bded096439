"""Commands cannot lose or mix data: one run per output, safe outputs, workers that end.

Each test follows a reproduction: two generate runs on one output, outputs that are links,
FIFOs, devices or the input, debris of killed runs, and killed runs' worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from src.cli import main
from src.config import ROOT
from src.data.datasets import read_attrs, read_jets, write_jets
from src.data.generate import GenerationSettings, run_shard
from src.data.samples import generate
from src.files import OutputError, atomic_file, check_output, exclusive_lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_run_on_a_held_output_stops_with_one_line(tmp_path, capsys):
    out = tmp_path / "mix.h5"
    with exclusive_lock(out, "another generate run"):
        code = main(["generate", "--process", "qcd", "--n", "50", "--shard-size", "25",
                     "--seed", "8", "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{out}: another generate run is writing it (pid {os.getpid()}" in err
    assert not out.exists() and not out.with_name("mix.h5.shards").exists()
    assert not out.with_name("mix.h5.lock").exists()


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    out = tmp_path / "x.h5"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from src.files import exclusive_lock\n"
        f"with exclusive_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputError, match=f"pid {holder.pid} holds x.h5.lock"):
        with exclusive_lock(out):
            pass
    holder.kill()
    holder.wait()
    with exclusive_lock(out) as lock:
        assert lock.read_text() == str(os.getpid())


def test_shards_made_with_other_settings_are_never_merged(tmp_path):
    """A shard of seed 8 planted among seed-7 shards (same manifest) is remade, not merged."""
    seven = GenerationSettings(process="qcd", n_jets=40, shard_size=20, seed=7)
    eight = GenerationSettings(process="qcd", n_jets=40, shard_size=20, seed=8)
    clean = tmp_path / "clean.h5"
    generate(seven, clean, workers=1, progress=False)
    out = tmp_path / "mixed.h5"
    folder = tmp_path / "mixed.h5.shards"
    folder.mkdir()
    jets, stats = run_shard(eight, 0)
    write_jets(folder / "shard_00000.h5", jets, {"shard": 0, "settings_hash": eight.digest(),
                                                  **stats})
    (folder / "settings.json").write_text(f'{{"digest": "{seven.digest()}"}}')
    generate(seven, out, workers=1, progress=False)
    np.testing.assert_array_equal(read_jets(out)["images"], read_jets(clean)["images"])
    assert read_attrs(out)["seeds"] == read_attrs(clean)["seeds"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_end_with_a_killed_generate(tmp_path, sig):
    out = tmp_path / "big.h5"
    run = subprocess.Popen([sys.executable, "-m", "src", "generate", "--process", "qcd",
                            "--n", "4000", "--shard-size", "100", "--workers", "2",
                            "--out", str(out)], cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_children(run.pid)) < 3 and time.monotonic() < deadline:  # 2 workers, 1 tracker
        time.sleep(0.2)
    children = _children(run.pid)
    assert len(children) >= 2, children
    os.kill(run.pid, sig)
    run.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(_running(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in children if _running(p)]
    assert not (tmp_path / "big.h5.lock").exists() or sig == signal.SIGKILL
    if sig == signal.SIGTERM:
        assert run.returncode == 143


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "x.h5"
    stale = tmp_path / f".x.h5.{_dead_pid()}.tmp"
    stale.write_bytes(b"half a file")
    live = tmp_path / ".x.h5.1.tmp"  # pid 1 is alive: its file may still be being written
    live.write_bytes(b"being written")
    generate(GenerationSettings(process="qcd", n_jets=10, shard_size=10, seed=3), out,
             workers=1, progress=False)
    assert not stale.exists() and live.exists()
    assert read_jets(out)["images"].shape == (10, 40, 40)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "folder"])
def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    target = tmp_path / "real.csv"
    target.write_text("keep me\n")
    out = tmp_path / "out.csv"
    if kind == "symlink":
        out.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(out)
    elif kind == "device":
        out = Path("/dev/null")
    else:
        out.mkdir()
    with pytest.raises(OutputError, match="exists and is"):
        check_output(out)
    with pytest.raises(OutputError, match="refusing to replace it"), atomic_file(out) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "keep me\n"
    if kind == "device":
        assert out.is_char_device()
    elif kind == "symlink":
        assert out.is_symlink()


def test_generate_refuses_a_symlink_output(tmp_path, capsys):
    target = tmp_path / "target.h5"
    target.write_bytes(b"precious")
    (tmp_path / "link.h5").symlink_to(target)
    assert main(["generate", "--process", "qcd", "--n", "10", "--out",
                 str(tmp_path / "link.h5")]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"


@pytest.mark.parametrize("arguments, message", [
    (["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--n", "zero"], "argument --n: 'zero' is not an integer"),
])
def test_bad_generate_arguments_are_one_line_before_any_work(tmp_path, capsys, arguments,
                                                              message):
    out = tmp_path / "x.h5"
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--process", "qcd", "--n", "10", "--out", str(out), *arguments])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_the_input_is_refused(tmp_path):
    data = tmp_path / "a.h5"
    with h5py.File(data, "w") as h5:
        h5["images"] = np.ones((2, 40, 40), np.float32)
    with pytest.raises(OutputError, match="is also an input"):
        check_output(data, inputs=[data])
    (tmp_path / "alias.h5").symlink_to(data)
    with pytest.raises(OutputError, match="is also an input"):
        check_output(data, inputs=[tmp_path / "alias.h5"])


def test_an_unwritable_output_is_found_before_the_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write there"):
        check_output(blocker / "out.csv")
