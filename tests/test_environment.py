"""The conda environment and the package metadata pin the same versions."""

import tomllib

import yaml

from src.config import ROOT


def test_environment_yml_matches_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {d.split("==")[0].lower(): d.split("==")[1] for d in project["dependencies"]}
    assert all("==" in d for d in project["dependencies"]), "every dependency is pinned exactly"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = {d.split("==")[0].lower(): d.split("==")[1] for d in pip if "==" in d}
    assert env_pins == pins
    assert "python=3.11" in env["dependencies"]
    assert project["requires-python"].startswith(">=3.11")
