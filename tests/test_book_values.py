"""The README's results table against the values the committed notebooks record (the
pyhf pattern: notebooks are tested for the numbers they record)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from src.config import BOOK_DIR, ROOT

ROW = re.compile(r"^\|\s*(?P<result>[^|]+?)\s*\|\s*(?P<value>[^|]+?)\s*\|\s*(?P<chapter>\d\d_\w+)"
                 r"\s*\|\s*`(?P<glue>\w+)`\s*\|\s*$")


def results_table(readme: str) -> list[dict[str, str]]:
    """Rows of the "## Results" table of a README: result, value, chapter, glue name."""
    section = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    return [m.groupdict() for line in section.splitlines() if (m := ROW.match(line))]


def glued(notebook: dict) -> dict[str, str]:
    """Values a notebook recorded with myst_nb.glue, by name, as their text."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                text = output["data"][record["mime_prefix"] + "text/plain"]
                values[record["name"]] = str(text).strip("'\"")
    return values


def mismatches(rows: list[dict[str, str]], book: Path) -> list[str]:
    """Rows whose value differs from the notebook's glued value (or is not glued at all)."""
    out = []
    for row in rows:
        values = glued(json.loads((book / f"{row['chapter']}.ipynb").read_text()))
        if values.get(row["glue"]) != row["value"]:
            out.append(f"{row['result']}: README {row['value']}, notebook "
                       f"{values.get(row['glue'], 'not glued')}")
    return out


def test_the_parser_finds_a_disagreement(tmp_path):
    notebook = {"cells": [{"outputs": [{"metadata": {"scrapbook": {
        "name": "auc", "mime_prefix": ""}}, "data": {"text/plain": "0.9"}}]}]}
    (tmp_path / "04_scores.ipynb").write_text(json.dumps(notebook))
    readme = ("## Results\n\n| result | value | chapter | glue name |\n|---|---|---|---|\n"
              "| an AUC | 0.8 | 04_scores | `auc` |\n\n## Next\n| x | 1 | 04_scores | `auc` |\n")
    rows = results_table(readme)
    assert [r["glue"] for r in rows] == ["auc"]
    assert mismatches(rows, tmp_path) == ["an AUC: README 0.8, notebook 0.9"]
    assert mismatches([{**rows[0], "value": "0.9"}], tmp_path) == []


def test_the_readme_results_are_what_the_notebooks_record():
    rows = results_table((ROOT / "README.md").read_text())
    assert len(rows) >= 10
    assert not mismatches(rows, BOOK_DIR)


@pytest.mark.parametrize("chapter", sorted({r["chapter"] for r in
                                            results_table((ROOT / "README.md").read_text())}))
def test_every_results_chapter_exists(chapter):
    assert (BOOK_DIR / f"{chapter}.ipynb").is_file()
