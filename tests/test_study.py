"""The numbers quoted from the study: every entry says where it stands."""

from __future__ import annotations

from src import study


def test_every_quoted_number_has_a_source():
    quoted = {name: value for name, value in vars(study).items() if isinstance(value, study.Quoted)}
    assert {"TRAINING", "HLS_PARAMETER_LIMIT", "TABLE_3_1"} <= set(quoted)
    for name, entry in quoted.items():
        assert entry.source.startswith(("thesis", "ISGC")), name


def test_values_chapters_quote():
    assert study.TRAINING.values == {"epochs": 8, "beta": 3000}
    assert study.HLS_PARAMETER_LIMIT.values == {"thesis": 1024, "paper": 2048}
