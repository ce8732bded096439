"""The book's one figure style: page-wide figures, no font below 9 pt."""

from __future__ import annotations

import ast

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest

from src import style
from src.config import ROOT


def test_use_sets_the_fonts_and_the_resolution():
    with mpl.rc_context():
        style.use()
        assert mpl.rcParams["figure.dpi"] == style.DPI
        for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "font.size"):
            assert mpl.font_manager.FontProperties(size=mpl.rcParams[key]).get_size_in_points() \
                >= style.MIN_FONT_PT
        fig = plt.figure()
        assert fig.get_figwidth() <= style.PAGE_WIDTH
        plt.close(fig)


def test_figsize_caps_the_width():
    assert style.figsize(3.0) == (style.PAGE_WIDTH, 3.0)
    assert style.figsize(2.0, width=20) == (style.PAGE_WIDTH, 2.0)
    with pytest.raises(ValueError):
        style.figsize(0)


def test_style_imports_nothing_from_the_package():
    tree = ast.parse((ROOT / "src" / "style.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("src") or m == ""], imported
