"""QTools energy tables of the reduced encoders, against the study's Tables 3.2 and 3.4."""

from __future__ import annotations

import pandas as pd
import pytest

from src.compress.energy import energy_table, saving, study_comparison, totals
from src.compress.quantize import reduced_spec
from src.config import get_profile
from src.models.layers import QKerasFactory
from src.models.networks import build_encoder
from src.study import TABLE_3_2, TABLE_3_4

NAMES = {0: "reduced float", 16: "quantized <16,6>"}


@pytest.fixture(scope="module")
def tables():
    profile = get_profile("smoke")
    factories = {0: None, 16: QKerasFactory(16, 6)}
    return {bits: energy_table(build_encoder(reduced_spec(profile, bits), factory))
            for bits, factory in factories.items()}


def test_table_total_is_the_sum_of_its_layers(tables):
    for table in tables.values():
        qtools = table[table["source"] == "qtools"]
        # QTools sums unrounded pJ and truncates to an integer: at most 1 pJ apart.
        assert qtools["energy_nJ"].sum() == pytest.approx(table.attrs["qtools_total_nJ"],
                                                          abs=1e-3)
        norms = table[table["source"] == "estimate"]
        assert len(norms) == 12 and (norms["energy_nJ"] > 0).all()
        assert (table["energy_nJ"] > 0).all()
    summary = totals({NAMES[bits]: table for bits, table in tables.items()})
    for bits, table in tables.items():
        row = summary.loc[NAMES[bits]]
        assert row["with instance norm [uJ]"] == pytest.approx(table["energy_nJ"].sum() / 1e3)
        assert row["QTools [uJ]"] == pytest.approx(table.attrs["qtools_total_nJ"] / 1e3, abs=1e-6)
        assert row["grouped MACs, with norm [uJ]"] < row["with instance norm [uJ]"]
        assert row["study [uJ]"] == TABLE_3_4.values[NAMES[bits]]


def test_quantized_encoder_costs_less(tables):
    summary = totals({NAMES[bits]: table for bits, table in tables.items()})
    assert (summary.loc["quantized <16,6>"].iloc[:3] < summary.loc["reduced float"].iloc[:3]).all()


def test_grouped_energy_follows_the_macs(tables):
    table = tables[0]
    conv = table.loc["conv1_b0_0"]
    assert conv["qtools_ops"] == 4 * conv["macs"] == 921_600  # QTools ignores the 4 groups
    assert conv["energy_grouped_nJ"] == pytest.approx(conv["energy_nJ"] / 4)
    dense = table.loc["z_mean"]
    assert dense["qtools_ops"] == dense["macs"] == 1_600
    assert dense["energy_grouped_nJ"] == dense["energy_nJ"]


def test_float_layers_reproduce_the_study(tables):
    """Energy depends on the architecture only, which is the study's (Tables 3.2, 3.4)."""
    table = tables[0]
    for name, value in TABLE_3_2.values.items():
        assert table.loc[name, "energy_nJ"] == pytest.approx(value, abs=0.05), name
    for bits, name in NAMES.items():
        total = tables[bits].attrs["qtools_total_nJ"] / 1e3
        assert total == pytest.approx(TABLE_3_4.values[name], abs=1e-4), name
    side = study_comparison(tables[0], tables[16])
    assert list(side.columns) == ["study, float", "ours, float", "ours, quantized"]
    assert side.loc["conv_fin"].tolist()[:2] == [2.7, pytest.approx(2.7)]


def test_unknown_float_precision_is_one_clear_error():
    with pytest.raises(ValueError, match="keras_quantizer must be"):
        energy_table(None, keras_quantizer="int8")


def test_energy_saving_reproduces_the_study():
    totals = pd.DataFrame({"study [uJ]": TABLE_3_4.values})
    assert round(saving(totals, "study [uJ]"), 3) == 0.392  # "39.2%", thesis Table 3.4


def test_our_saving_is_the_study_one(tables):
    summary = totals({NAMES[bits]: table for bits, table in tables.items()})
    assert saving(summary) == pytest.approx(saving(summary, "study [uJ]"), abs=1e-4)
