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
