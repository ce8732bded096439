"""Sphinx extension of the book: keep papermill's injected-parameters cell off the page.

``python -m src book`` runs every chapter with papermill, which inserts a cell tagged
``injected-parameters`` (only) after the chapter's ``parameters`` cell. MyST-NB drops the
cells tagged ``remove-cell``; before it parses an executed notebook, this adds that tag to
the injected cell, so the notebook still records the profile it ran with but the page does
not show it. Enabled in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

import json

INJECTED = "injected-parameters"
REMOVE = "remove-cell"


def remove_injected_cells(text: str) -> str:
    """The notebook JSON ``text`` with ``remove-cell`` added to every injected cell."""
    try:
        notebook = json.loads(text)
    except ValueError:  # not a JSON notebook: leave it to the parser
        return text
    changed = False
    for cell in notebook.get("cells", []) if isinstance(notebook, dict) else []:
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED in tags and REMOVE not in tags:
            cell["metadata"]["tags"] = [*tags, REMOVE]
            changed = True
    return json.dumps(notebook, indent=1, ensure_ascii=False) if changed else text


def _source_read(app, docname: str, source: list[str]) -> None:
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = remove_injected_cells(source[0])


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
