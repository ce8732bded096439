"""Command-line behaviour: one-line errors and non-zero exits on bad input."""

import subprocess
import sys

import numpy as np
import pytest

from src.cli import main
from src.config import ROOT, get_profile
from src.data.datasets import read_jets


@pytest.mark.parametrize("argv, message", [
    (["generate", "--process", "higgs", "--n", "5", "--out", "x.h5"], "unknown process 'higgs'"),
    (["data", "--profile", "huge"], "unknown profile 'huge'"),
    (["book", "--profile", "nope"], "unknown profile 'nope'"),
])
def test_bad_arguments_give_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_convert_missing_file(tmp_path, capsys):
    assert main(["convert-toptag", str(tmp_path / "none.h5"), "--out", str(tmp_path / "o.h5")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_generate_command_writes_a_schema_file(tmp_path):
    out = tmp_path / "w.h5"
    result = subprocess.run(
        [sys.executable, "-m", "src", "generate", "--process", "w", "--n", "20", "--out", str(out),
         "--workers", "1", "--shard-size", "20", "--detector", "particle"],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    jets = read_jets(out)
    assert jets["images"].shape == (20, 40, 40) and np.all(jets["labels"] == 1)


def test_profiles_are_known():
    assert get_profile("smoke").n_jets["qcd"] < get_profile("default").n_jets["qcd"]
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("Default")

