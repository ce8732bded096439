"""Table formatting: "value ± error" cells, HTML-escaped labels, percent columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.analysis import tables


def test_pm_scales_and_rounds():
    assert tables.pm(0.93712, 0.00251, digits=1, scale=100) == "93.7 ± 0.3"
    assert tables.pm(1.5, 0.25, digits=2) == "1.50 ± 0.25"


def test_with_errors_reads_metric_and_std_columns():
    table = pd.DataFrame({"auc": [0.9, 0.512], "auc_std": [0.01, 0.0049]}, index=["a", "b"])
    shown = tables.with_errors(table, {"AUC [%]": "auc"})
    assert shown.to_dict() == {"AUC [%]": {"a": "90.0 ± 1.0", "b": "51.2 ± 0.5"}}


def test_styled_escapes_labels():
    html = tables.styled(pd.DataFrame({"<16,6>": [1.0]}, index=["a<b"]), precision=1).to_html()
    assert "&lt;16,6&gt;" in html and "a&lt;b" in html and "<16,6>" not in html


def test_percent_aligns_columns_and_scales():
    a = pd.Series([0.5, 0.25], index=["x", "y"])
    b = pd.Series([0.125], index=["y"])
    styler = tables.percent({"A [%]": a, "B [%]": b}, digits=1)
    np.testing.assert_allclose(styler.data.to_numpy(), [[50.0, np.nan], [25.0, 12.5]])
    assert "12.5" in styler.to_html() and "12.50" not in styler.to_html()


def test_number_blank_for_missing_no_negative_zero_thousands():
    assert tables.number(np.nan) == "" and tables.number(None) == ""
    assert tables.number(-0.00001, 3) == "0.000" and tables.number(-0.0, ".4g") == "0"
    assert tables.number(-0.25, 1) == "-0.2" and tables.number(12345.678, 1) == "12,345.7"
    assert tables.number(np.int64(1234567)) == "1,234,567"
    assert tables.number(0.0005234, ".4g") == "0.0005234" and tables.number("eflow") == "eflow"


def test_readable_names():
    assert tables.readable("jet_mass_mean") == "mean jet mass [GeV]"
    assert tables.readable("some_column") == "some column" and tables.readable(3) == "3"
    assert tables.readable("conv1_b0_0", spaces=False) == "conv1_b0_0"


def test_show_formats_per_column_and_renames():
    frame = pd.DataFrame({"n_jets": [12, 3000], "jet_mass_mean": [172.44, np.nan],
                          "top fraction": [-0.0001, 0.5]},
                         index=pd.Index(["qcd", "w"], name="sample"))
    html = tables.show(frame, {"jet_mass_mean": 1, "top fraction": 2}).to_html()
    for text in ("mean jet mass [GeV]", ">172.4<", ">3,000<", ">0.00<", ">QCD<", ">W<"):
        assert text in html, text
    assert "nan" not in html and "-0.00" not in html and "n_jets" not in html
    assert "white-space: nowrap" in html and "overflow-x: auto" in html
    series = tables.show(pd.Series([0.6784], index=["continuous"], name="AUC"), 3).to_html()
    assert ">0.678<" in series and "caption" not in series
    assert "<caption" in tables.show(frame, caption="c").to_html()
    assert ">conv_b0<" in tables.show(pd.DataFrame({"a": [1]}, index=["conv_b0"])).to_html()
