"""Table formatting shared by the chapters: one look for every table of the book.

:func:`show` is the formatter the chapters display tables with: readable column and row
names (:data:`NAMES`, no snake_case), units in the headers, numbers rounded per column,
thousands separated, empty cells for missing values (never ``nan``), no ``-0.000``, each
cell on one line (a "value ± error" cell made by :func:`pm` stays whole) and a table wider
than the page scrolls instead of running into the margin. :func:`styled` is the same look
for a frame whose formatting a caller sets itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

#: Readable names of the columns, index names and row labels the chapters show.
NAMES = {
    "qcd": "QCD", "top": "top", "w": "W", "sample": "sample",
    "jets": "jets", "events generated": "events generated",
    "acceptance": "acceptance (kept / generated)", "detector": "detector simulation",
    "n_jets": "jets", "jet_mass_mean": "mean jet mass [GeV]",
    "jet_mass_std": "std. dev. of jet mass [GeV]", "n_constituents_mean": "mean constituents",
    "n_constituents_std": "std. dev. of constituents", "MACs": "MACs per image",
    "output shape": "output shape", "auc": "AUC", "auc_std": "AUC std. dev.",
}

#: CSS of every table: cells and row labels on one line, column headers wrapped, the table
#: scrolls when it is wider than the page.
CSS = [
    {"selector": "", "props": "display: block; overflow-x: auto; max-width: 100%;"},
    {"selector": "td", "props": "white-space: nowrap; padding: 0.15em 0.7em;"},
    {"selector": "th", "props": "padding: 0.15em 0.7em; max-width: 14em; white-space: normal;"},
    {"selector": "th.row_heading", "props": "white-space: nowrap; max-width: none;"},
]


def pm(value: float, error: float, digits: int = 1, scale: float = 1.0) -> str:
    """``"value ± error"`` with ``digits`` decimals, both multiplied by ``scale``."""
    return f"{number(scale * value, digits)} ± {number(scale * error, digits)}"


def with_errors(table: pd.DataFrame, columns: Mapping[str, str], digits: int = 1,
                scale: float = 100.0) -> pd.DataFrame:
    """Columns ``{title: metric}`` of a :func:`src.analysis.metrics.metrics_table`, each
    cell ``"value ± error"`` from ``metric`` and ``metric_std`` (in percent by default)."""
    return pd.DataFrame({
        title: [pm(row[metric], row[f"{metric}_std"], digits, scale) for _, row in table.iterrows()]
        for title, metric in columns.items()}, index=table.index)


def number(value: Any, digits: int | str = 3) -> str:
    """One cell's text: ``""`` for a missing value, an integer with thousands separators, a
    float with ``digits`` decimals (or the format spec ``digits``, e.g. ``".3g"``) and never
    a negative zero; anything else as ``str``."""
    if value is None or (isinstance(value, Real) and not np.isfinite(float(value))):
        return ""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return f"{int(value):,}"
    spec = digits if isinstance(digits, str) else f",.{digits}f"
    text = format(float(value), spec)
    mantissa = text.lstrip("-").split("e")[0]
    return text.lstrip("-") if text.startswith("-") and not mantissa.strip("0.,") else text


def readable(name: Any, names: Mapping[str, str] = NAMES, spaces: bool = True) -> str:
    """A label as shown: its :data:`NAMES` entry, else itself with underscores as spaces
    (``spaces``; row labels keep theirs, e.g. layer names that other tables quote)."""
    if not isinstance(name, str):
        return str(name)
    return names.get(name, name.replace("_", " ") if spaces else name)


def styled(frame: pd.DataFrame, *args, **kwargs):
    """``frame.style.format(*args, **kwargs)`` with labels HTML-escaped (``<16,6>`` shows) and
    the book's table :data:`CSS`."""
    return (frame.style.format(*args, **kwargs).format_index(escape="html", axis=0)
            .format_index(escape="html", axis=1).set_table_styles(CSS))


def show(frame: pd.DataFrame | pd.Series, digits: int | str | Mapping[Any, int | str] = 3,
         names: Mapping[str, str] = NAMES, caption: str | None = None):
    """The book's display of a table: labels made :func:`readable`, every cell a
    :func:`number` (``digits`` for all columns, or per column with a default of 3), the
    :data:`CSS`, an optional caption. A Series is shown as a one-column table."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    per_column = digits if isinstance(digits, Mapping) else {}

    def formatter(column: Any) -> Callable[[Any], str]:
        spec = per_column.get(column, 3) if per_column else digits
        return lambda value: number(value, spec)

    frame = frame.rename_axis(index=[readable(n, names) if n else n for n in frame.index.names])
    styler = (frame.style.format({c: formatter(c) for c in frame.columns})
              .format_index(partial(readable, names=names, spaces=False), axis=0, escape="html")
              .format_index(partial(readable, names=names), axis=1, escape="html")
              .set_table_styles(CSS))
    return styler.set_caption(caption) if caption else styler


def percent(columns: Mapping[str, pd.Series], digits: int = 1):
    """Columns of fractions (e.g. AUCs of :func:`src.analysis.metrics.metrics_table`) side by
    side, aligned on their index and shown in percent with ``digits`` decimals."""
    return show(100 * pd.DataFrame(columns), digits)
