"""Table formatting shared by the chapters: "value ± error" cells and HTML-safe styling."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def pm(value: float, error: float, digits: int = 1, scale: float = 1.0) -> str:
    """``"value ± error"`` with ``digits`` decimals, both multiplied by ``scale``."""
    return f"{scale * value:.{digits}f} ± {scale * error:.{digits}f}"


def with_errors(table: pd.DataFrame, columns: Mapping[str, str], digits: int = 1,
                scale: float = 100.0) -> pd.DataFrame:
    """Columns ``{title: metric}`` of a :func:`src.analysis.metrics.metrics_table`, each
    cell ``"value ± error"`` from ``metric`` and ``metric_std`` (in percent by default)."""
    return pd.DataFrame({
        title: [pm(row[metric], row[f"{metric}_std"], digits, scale) for _, row in table.iterrows()]
        for title, metric in columns.items()}, index=table.index)


def styled(frame: pd.DataFrame, *args, **kwargs):
    """``frame.style.format(*args, **kwargs)`` with labels HTML-escaped (``<16,6>`` shows)."""
    return (frame.style.format(*args, **kwargs).format_index(escape="html", axis=0)
            .format_index(escape="html", axis=1))


def percent(columns: Mapping[str, pd.Series], digits: int = 1):
    """Columns of fractions (e.g. AUCs of :func:`src.analysis.metrics.metrics_table`) side by
    side, aligned on their index and shown in percent with ``digits`` decimals."""
    return styled(100 * pd.DataFrame(columns), precision=digits)
