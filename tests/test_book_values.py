"""The README's results table against the values the committed notebooks record (the pyhf
pattern: notebooks are tested for the numbers they record).

A row of the "## Results" table is ``| result | value | chapter | `glue name` |``; its value
must be the text the chapter's committed notebook ``book/<chapter>.ipynb`` glued under that
name. A timing row says "measured, varies" in its value: its glue name must exist, its
number is not compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakes import glued

from src.config import BOOK_DIR, ROOT

ROW = re.compile(r"^\|\s*(?P<result>[^|]+?)\s*\|\s*(?P<value>[^|]+?)\s*\|\s*(?P<chapter>\d\d_\w+)"
                 r"\s*\|\s*`(?P<glue>\w+)`\s*\|\s*$")
MEASURED = "measured, varies"

#: (chapter, glue name) of every headline result the README's table must carry.
HEADLINES = {
    ("01_data", "mass_auc_top"),
    ("02_training", "epochs_run"), ("02_training", "best_epoch"),
    ("04_anomaly_scores", "auc_kl_total"), ("04_anomaly_scores", "cnn_auc"),
    ("04_anomaly_scores", "w_auc_kl_total"), ("04_anomaly_scores", "inv_auc_kl_total"),
    ("05_quantization", "q_auc_float"), ("05_quantization", "q_auc_quant"),
    ("05_quantization", "student_auc"), ("05_quantization", "student_params"),
    ("06_fpga_feasibility", "emu_auc"), ("06_fpga_feasibility", "student_latency_ns"),
    ("06_fpga_feasibility", "study_speedup"),
    ("07_model_independence", "best_auc_inverted"), ("07_model_independence", "rec_auc_top"),
    ("07_model_independence", "rec_auc_w"), ("07_model_independence", "rec_auc_inverted"),
    ("07_model_independence", "rec_auc_window"), ("07_model_independence", "rs_auc_top"),
    ("08_trigger_firmware", "profiled_median"), ("08_trigger_firmware", "numpy_vs_study"),
    ("08_trigger_firmware", "trig_lut"), ("08_trigger_firmware", "trig_latency_ns"),
    ("08_trigger_firmware", "win_ratio"), ("08_trigger_firmware", "blk_all_lut"),
}
#: Glue names whose values are timings (they vary from run to run and machine to machine).
TIMINGS = {"train_minutes", "student_compile_s", "emu_images_per_s", "emu_seconds_50k",
           "study_speedup", "scan_hours", "numpy_vs_study", "numpy_rate", "numpy_minutes",
           "cpp_vs_study"}


def results_table(readme: str) -> list[dict[str, str]]:
    """Rows of the "## Results" section's table: result, value, chapter, glue name."""
    section = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    return [m.groupdict() for line in section.splitlines() if (m := ROW.match(line))]


def mismatches(rows: list[dict[str, str]], book: Path) -> list[str]:
    """One line per row whose glue name the chapter's notebook lacks, or whose value differs
    from the notebook's (rows marked "measured, varies" are only looked up)."""
    out = []
    for row in rows:
        values = glued(book / f"{row['chapter']}.ipynb")
        if row["glue"] not in values:
            out.append(f"{row['result']}: {row['chapter']} glues no {row['glue']!r}")
        elif MEASURED not in row["value"] and values[row["glue"]] != row["value"]:
            out.append(f"{row['result']}: README {row['value']}, notebook {values[row['glue']]}")
    return out


def test_the_parser_finds_every_disagreement(tmp_path):
    records = {"auc": "0.9", "rate": "'1,234'"}
    outputs = [{"metadata": {"scrapbook": {"name": name, "mime_prefix": "x/"}},
                "data": {"x/text/plain": text}} for name, text in records.items()]
    (tmp_path / "04_scores.ipynb").write_text(json.dumps({"cells": [{"outputs": outputs}]}))
    readme = ("# Title\n\n## Results\n\n| result | value | chapter | glue name |\n|---|---|---|---|\n"
              "| an AUC | 0.8 | 04_scores | `auc` |\n"
              "| a rate | 99 (measured, varies) | 04_scores | `rate` |\n"
              "| a lost value | 3 | 04_scores | `gone` |\n"
              "\n## Next\n\n| outside | 1 | 04_scores | `auc` |\n")
    rows = results_table(readme)
    assert [r["glue"] for r in rows] == ["auc", "rate", "gone"]
    assert mismatches(rows, tmp_path) == ["an AUC: README 0.8, notebook 0.9",
                                          "a lost value: 04_scores glues no 'gone'"]
    assert mismatches([{**rows[0], "value": "0.9"}, {**rows[1], "value": "1,234"}], tmp_path) == []
    assert mismatches([{**rows[1], "value": "99"}], tmp_path) == ["a rate: README 99, notebook 1,234"]


def test_the_readme_results_are_what_the_notebooks_record():
    rows = results_table((ROOT / "README.md").read_text())
    assert HEADLINES <= {(r["chapter"], r["glue"]) for r in rows}
    assert not mismatches(rows, BOOK_DIR)


def test_only_timings_are_marked_as_varying():
    rows = results_table((ROOT / "README.md").read_text())
    assert {r["glue"] for r in rows if MEASURED in r["value"]} == {
        r["glue"] for r in rows if r["glue"] in TIMINGS}
