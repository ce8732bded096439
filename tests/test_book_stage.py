"""Staging a profile's book: a full build starts empty, a partial build keeps the chapters
executed before, and the configuration is always fresh."""

from __future__ import annotations

from src import book


def test_a_partial_build_keeps_the_executed_chapters(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "BUILD_DIR", tmp_path)
    root, notebooks = book.stage("smoke")
    assert notebooks == tmp_path / "smoke" / "book" and (root / "_toc.yml").is_file()
    assert (notebooks / "intro.md").is_file()
    executed = notebooks / "01_data.ipynb"
    executed.write_text("{}")
    (root / "_toc.yml").write_text("stale")
    book.stage("smoke", fresh=False)
    assert executed.read_text() == "{}"
    assert (root / "_toc.yml").read_text() == (book.ROOT / "_toc.yml").read_text()
    book.stage("smoke")
    assert not executed.exists()
    assert book.stage("default") == (book.ROOT, book.BOOK_DIR)
