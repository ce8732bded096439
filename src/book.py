"""The book pipeline: percent-format notebooks -> papermill (profile injected) -> Jupyter Book.

The ``default`` profile writes the executed notebooks into ``book/`` (they are committed,
so the book reads without re-running) and renders ``book/_build/html``. Any other profile
stages a copy of the book under ``build/<profile>/`` so the committed notebooks stay
untouched. Every notebook error and every Sphinx warning fails the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .config import BOOK_DIR, BUILD_DIR, NOTEBOOKS_DIR, ROOT, get_profile


def chapters(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Notebook names listed in the table of contents, in reading order."""
    entries = yaml.safe_load(toc.read_text())
    names = []
    for item in _toc_files(entries):
        name = Path(item).name
        if (NOTEBOOKS_DIR / f"{name}.py").exists():
            names.append(name)
    return names


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        for value in node.values():
            files.extend(_toc_files(value))
    elif isinstance(node, list):
        for value in node:
            files.extend(_toc_files(value))
    return files


def execute_notebook(name: str, profile: str, out_dir: Path) -> Path:
    """Run ``notebooks/<name>.py`` headless with ``profile`` injected; write ``<name>.ipynb``."""
    import jupytext
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    source = NOTEBOOKS_DIR / f"{name}.py"
    if not source.exists():
        raise FileNotFoundError(f"{source}: notebook not found")
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    target = out_dir / f"{name}.ipynb"
    staged = out_dir / f".{name}.input.ipynb"
    running = out_dir / f".{name}.running.ipynb"
    jupytext.write(notebook, staged, fmt="ipynb")
    try:
        papermill.execute_notebook(
            str(staged), str(running), parameters={"profile": profile}, kernel_name="python3",
            cwd=str(ROOT), progress_bar=False, log_output=False,
        )
    except Exception as exc:
        failed = out_dir / f"{name}.failed.ipynb"
        if running.exists():  # keep the partly executed notebook for inspection
            os.replace(running, failed)
        if isinstance(exc, papermill.PapermillExecutionError):
            raise RuntimeError(f"{source}: cell {exc.exec_count} raised {exc.ename}: "
                               f"{str(exc.evalue).splitlines()[0] if exc.evalue else ''} "
                               f"(executed part kept in {failed})") from exc
        raise
    finally:
        staged.unlink(missing_ok=True)
    os.replace(running, target)
    return target


def stage(profile: str, fresh: bool = True) -> tuple[Path, Path]:
    """(source folder of the build, folder of its executed notebooks) for a profile. Other
    profiles than ``default`` build in ``build/<profile>``: emptied first when ``fresh``, else
    its executed notebooks are kept (a partial build re-executes some chapters only); the
    configuration and the book's other files are copied anew either way."""
    if profile == "default":
        return ROOT, BOOK_DIR
    root = BUILD_DIR / profile
    if fresh and root.exists():
        shutil.rmtree(root)
    (root / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, root / name)
    for item in BOOK_DIR.iterdir():
        if item.suffix != ".ipynb" and item.name != "_build":
            if item.is_dir():
                shutil.copytree(item, root / "book" / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, root / "book" / item.name)
    return root, root / "book"


def build(profile: str = "default", execute: bool = True, only: list[str] | None = None) -> Path:
    """Execute the chapters (all, or ``only``) and render the HTML book; returns its index."""
    get_profile(profile)
    names = chapters()
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ValueError(f"unknown chapter(s) {', '.join(unknown)} (chapters: {', '.join(names)})")
    source, notebooks = stage(profile, fresh=not only)
    if execute:
        for name in only or names:
            start = time.perf_counter()
            print(f"[book] executing {name} with profile {profile!r} ...", flush=True)
            execute_notebook(name, profile, notebooks)
            print(f"[book] {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    missing = [n for n in names if not (notebooks / f"{n}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"{notebooks}: executed notebook(s) missing: {', '.join(missing)}")
    output = source / "book" if profile == "default" else source
    print(f"[book] rendering HTML into {output / '_build' / 'html'}", flush=True)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
               "--path-output", str(output), "-n", "-W", "--keep-going"]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {result.returncode})")
    return output / "_build" / "html" / "index.html"
