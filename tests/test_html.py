"""The rendered book: what a reader sees on every chapter page.

The committed default-profile notebooks in ``book/`` are rendered once, without executing
them (``python -m src book --profile default --no-execute``), into a temporary copy of the
book (``JVAE_ROOT`` points the pipeline there), so the test neither needs nor touches
``book/_build``. Chapters listed in ``_toc.yml`` whose executed notebook is not in ``book/``
yet are left out of the copy. Each chapter page is then checked: no parameters cell (neither
the chapter's nor papermill's injected one), every code cell folded, no traceback, no repr of
a matplotlib object, no ``nan`` table cell, and MathJax loaded from ``_static``, not a CDN.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from src.book import chapters
from src.config import BOOK_DIR, NOTEBOOKS_DIR, ROOT

#: The rendering tests build a book (10-20 s on 2 cores); the extension's unit test below does not.
smoke = pytest.mark.smoke

#: Chapters of the table of contents that have a chapter source and an executed notebook.
CHAPTERS = [name for name in chapters() if (BOOK_DIR / f"{name}.ipynb").exists()]


def _rendered_copy(root: Path) -> Path:
    """Render the committed notebooks of ``CHAPTERS`` under ``root``; returns its html folder."""
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    shutil.copy2(ROOT / "_config.yml", root / "_config.yml")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    toc["chapters"] = [c for c in toc["chapters"] if Path(c["file"]).name in CHAPTERS
                       or (ROOT / f"{c['file']}.md").exists()]  # and the markdown pages
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    for item in BOOK_DIR.iterdir():
        if item.name == "_build" or item.name.startswith(".") or item.name.endswith(
                ".failed.ipynb") or (item.suffix == ".ipynb" and item.stem not in CHAPTERS):
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, root / "book" / item.name)
    for name in CHAPTERS:
        shutil.copy2(NOTEBOOKS_DIR / f"{name}.py", root / "notebooks" / f"{name}.py")
    result = subprocess.run(
        [sys.executable, "-m", "src", "book", "--profile", "default", "--no-execute"],
        cwd=ROOT, env={**os.environ, "JVAE_ROOT": str(root)}, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / "book" / "_build" / "html"


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    return _rendered_copy(tmp_path_factory.mktemp("book"))


class Page(HTMLParser):
    """The parts of a page the checks read: visible text, table cells, cells, scripts."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.table_cells: list[str] = []
        self.cell_classes: list[list[str]] = []
        self.scripts: list[str] = []
        self._skip = 0  # inside <script> or <style>
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag in ("script", "style"):
            self._skip += 1
            if tag == "script" and attrs.get("src"):
                self.scripts.append(attrs["src"])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and "cell" in classes:
            self.cell_classes.append(classes)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._cell is not None:
            self.table_cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)


def _page(html: Path, name: str) -> Page:
    path = html / "book" / f"{name}.html"
    assert path.exists(), f"{path} not rendered"
    return Page(path.read_text(encoding="utf-8"))


def test_the_committed_chapters_are_checked():
    assert {"01_data", "02_training", "03_latent_space", "04_anomaly_scores", "05_quantization",
            "06_fpga_feasibility"} <= set(CHAPTERS), CHAPTERS


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_no_parameters_cell_is_shown(html, name):
    page = _page(html, name)
    shown = [c for c in page.cell_classes
             if {"tag_parameters", "tag_injected-parameters"} & set(c)]
    assert not shown, f"{name}: parameters cell on the page: {shown}"
    assert "# Parameters" not in page.visible, f"{name}: papermill's injected cell is shown"


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_every_code_cell_is_folded(html, name):
    page = _page(html, name)
    assert page.cell_classes, f"{name}: no code cell on the page"
    unfolded = [c for c in page.cell_classes if "tag_hide-input" not in c]
    assert not unfolded, f"{name}: {len(unfolded)} code cell(s) without hide-input: {unfolded}"


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_no_traceback(html, name):
    assert "Traceback" not in _page(html, name).visible


#: A Python repr of a matplotlib object that a cell printed by accident.
MATPLOTLIB_REPR = re.compile(r"<(matplotlib\.[\w.]+|Figure size|Figure)\b[^>]*>")


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_no_matplotlib_repr(html, name):
    found = MATPLOTLIB_REPR.findall(_page(html, name).visible)
    assert not found, f"{name}: {found}"


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_no_nan_table_cell(html, name):
    cells = _page(html, name).table_cells
    nan = [c for c in cells if c.lower() in ("nan", "<na>", "nat")]
    assert not nan, f"{name}: {len(nan)} of {len(cells)} table cells read {sorted(set(nan))}"


@smoke
@pytest.mark.parametrize("name", CHAPTERS)
def test_mathjax_is_served_locally(html, name):
    page = _page(html, name)
    mathjax = [s for s in page.scripts if "mathjax" in s.lower()]
    assert mathjax, f"{name}: no MathJax script"
    for src in mathjax:
        assert not re.match(r"^(https?:)?//", src), f"{name}: MathJax from the network: {src}"
        assert (html / "book" / src).resolve().is_file(), f"{name}: {src} missing"
    remote = [s for s in page.scripts if re.match(r"^(https?:)?//", s)]
    assert not remote, f"{name}: scripts from the network: {remote}"


@smoke
def test_mathjax_fonts_are_bundled(html):
    mathjax = html / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file()
    assert list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


def _extension():
    path = BOOK_DIR / "_ext" / "injected_parameters.py"
    spec = importlib.util.spec_from_file_location("injected_parameters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_extension_removes_only_the_injected_cell():
    remove = _extension().remove_injected_cells
    cells = [{"cell_type": "code", "metadata": {"tags": tags}, "source": "x = 1", "outputs": []}
             for tags in (["parameters", "remove-cell"], ["injected-parameters"], ["hide-input"])]
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    tags = [c["metadata"]["tags"] for c in json.loads(remove(text))["cells"]]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"],
                    ["hide-input"]]
    assert remove(remove(text)) == remove(text)
    untouched = json.dumps({"cells": cells[::2], "metadata": {}})
    assert remove(untouched) == untouched
    assert remove("# not a notebook") == "# not a notebook"
