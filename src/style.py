"""The book's one figure style: every chapter calls :func:`use` once, before its first figure.

Sizes are those of the book's page. The text column of the HTML theme is about 8 inches wide
at a browser's 96 px per inch, so a figure at most :data:`PAGE_WIDTH` inches wide drawn at
:data:`DPI` is shown at (about) its natural size, and a 9-point font in the figure reads as
9 points on the page. No font is smaller than :data:`MIN_FONT_PT`. Figures wider than the page
are split into rows rather than shrunk.

This module imports nothing from the package, so that every layer (data, models, analysis,
compress, fpga) and every chapter may use it.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl

#: Width of a full-page figure [inches]; no figure of the book should be wider.
PAGE_WIDTH = 7.5
#: Resolution of the figures [dots per inch], about a browser's 96 px per inch.
DPI = 100
#: Smallest font of any figure text [pt] (tick labels, legends, colour-bar labels).
MIN_FONT_PT = 9
#: Colour map of images and densities: perceptually uniform, readable in grey.
CMAP = "viridis"
#: Line styles cycled when several curves may lie on top of each other (e.g. ROC curves).
LINESTYLES = ("-", "--", "-.", ":")

#: The matplotlib settings :func:`use` applies.
RC: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": 2 * DPI,
    "figure.figsize": (PAGE_WIDTH, 0.6 * PAGE_WIDTH),
    "figure.constrained_layout.use": False,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "image.cmap": CMAP,
}


def use() -> None:
    """Apply the book's style (:data:`RC`) to every figure drawn from now on."""
    mpl.rcParams.update(RC)


def figsize(height: float, width: float = PAGE_WIDTH) -> tuple[float, float]:
    """``(width, height)`` in inches, the width capped at :data:`PAGE_WIDTH`."""
    if height <= 0 or width <= 0:
        raise ValueError(f"a figure needs a positive size, got {width} x {height}")
    return (min(width, PAGE_WIDTH), height)
