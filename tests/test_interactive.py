"""Interactive use: JupyterLab on the project venv opens a chapter as a notebook and runs it.

Starts ``jupyter lab`` from the venv the way ``make lab`` does (repository root, project
kernel by default) on a free local port with a token, and checks through its REST API that

- ``notebooks/01_data.py`` comes back as a notebook (jupytext's contents manager) with its
  cell tags and the project kernel ``jointvae-ad`` (installed into the venv by
  ``make setup``);
- a chapter is not paired with the executed notebook in ``book/``: it opens even when that
  notebook is newer, and saving it writes back the same ``.py`` file and nothing else;
- a kernel started on it runs the chapter's parameters cell and the imports of its first
  code cell over the kernel websocket without an error, in the project's venv.

The server runs with its own Jupyter config, data and runtime folders and is always shut
down. The working copies live under ``build/`` (ignored by git) and are removed afterwards.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import websocket

from src.config import BOOK_DIR, BUILD_DIR, NOTEBOOKS_DIR, ROOT

JUPYTER = Path(sys.executable).with_name("jupyter")
KERNEL = "jointvae-ad"
CHAPTER = "01_data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running ``jupyter lab`` and a small client of its REST API."""

    def __init__(self, port: int, token: str, process: subprocess.Popen):
        self.port, self.token, self.process = port, token, process

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode() or "{}")

    def get(self, path: str) -> dict:
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body.get('message', body)}"
        return body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter")
    port, token = _free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         f"--MappingKernelManager.default_kernel_name={KERNEL}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    running = Server(port, token, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                if running.request("GET", "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "jupyter lab did not answer within 90 s"
            time.sleep(0.5)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def scratch():
    """A folder under build/ (inside the server's root, ignored by git), removed afterwards."""
    folder = BUILD_DIR / f"test-interactive-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_chapter_opens_as_a_notebook_with_the_project_kernel(server):
    model = server.get(f"/api/contents/notebooks/{CHAPTER}.py?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    assert [c["cell_type"] for c in cells[:3]] == ["markdown", "code", "code"]
    assert cells[1]["metadata"]["tags"] == ["parameters", "remove-cell"]
    assert cells[1]["source"].strip() == 'profile = "default"'
    assert all("hide-input" in c["metadata"]["tags"] for c in cells[2:] if c["cell_type"] == "code")
    assert model["content"]["metadata"]["kernelspec"]["name"] == KERNEL, (
        f"no kernel runs {sys.executable}: run `make setup` or "
        f"`{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}`")
    specs = server.get("/api/kernelspecs")
    assert specs["default"] == KERNEL and KERNEL in specs["kernelspecs"]


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py")))
def test_a_chapter_saves_back_unchanged_and_unpaired(server, scratch, name):
    """Opened and saved unedited, a chapter is rewritten byte for byte, and nothing else is
    written: not even when its executed notebook is newer (a jupytext pair would refuse to
    open it then, and would overwrite the executed notebook on saving)."""
    (scratch / "notebooks").mkdir()
    (scratch / "book").mkdir()
    source = scratch / "notebooks" / f"{name}.py"
    executed = scratch / "book" / f"{name}.ipynb"
    shutil.copy2(NOTEBOOKS_DIR / f"{name}.py", source)
    if (BOOK_DIR / f"{name}.ipynb").exists():
        shutil.copy2(BOOK_DIR / f"{name}.ipynb", executed)
    else:
        executed.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                        "nbformat_minor": 5}))
    now = time.time()
    os.utime(source, (now - 60, now - 60))  # the executed notebook is a minute newer
    os.utime(executed, (now, now))
    path = f"/api/contents/{source.relative_to(ROOT).as_posix()}"
    model = server.get(f"{path}?type=notebook&content=1")
    assert not any(c.get("outputs") for c in model["content"]["cells"])
    before = source.read_text()
    executed_before = executed.read_bytes()
    status, saved = server.request(
        "PUT", path, {"type": "notebook", "format": "json", "content": model["content"]})
    assert status == 200, saved
    assert source.read_text() == before
    assert executed.read_bytes() == executed_before
    assert sorted(p.name for p in scratch.rglob("*") if p.is_file()) == [
        f"{name}.ipynb", f"{name}.py"]


def _execute(ws: websocket.WebSocket, code: str) -> tuple[dict, list[dict]]:
    """Run ``code`` on the kernel; (execute_reply content, iopub messages of the request)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                   "username": "test", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    reply, iopub, idle = None, [], False
    while reply is None or not idle:
        message = json.loads(ws.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["channel"] == "shell" and message["msg_type"] == "execute_reply":
            reply = message["content"]
        elif message["channel"] == "iopub":
            iopub.append(message)
            idle = message["msg_type"] == "status" and (
                message["content"]["execution_state"] == "idle")
    return reply, iopub


def test_a_kernel_runs_the_first_cells_of_a_chapter(server):
    cells = [c for c in server.get(
        f"/api/contents/notebooks/{CHAPTER}.py?type=notebook&content=1")["content"]["cells"]
        if c["cell_type"] == "code"]
    parameters, first = cells[0], cells[1]
    assert "parameters" in parameters["metadata"]["tags"]
    # the first code cell's imports (the rest of it loads the samples, which a test avoids)
    imports = "\n".join(ast.get_source_segment(first["source"], node)
                        for node in ast.parse(first["source"]).body
                        if isinstance(node, ast.Import | ast.ImportFrom))
    assert "from src" in imports
    status, kernel = server.request("POST", "/api/kernels", {"name": KERNEL,
                                                             "path": "notebooks"})
    assert status == 201, kernel
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {server.token}"], timeout=120)
    try:
        for code in (parameters["source"], 'profile = "smoke"  # what papermill would inject',
                     imports, "import sys\nP = get_profile(profile)\nprint(sys.prefix, P.name)"):
            reply, iopub = _execute(ws, code)
            errors = [m["content"] for m in iopub if m["msg_type"] == "error"]
            assert reply["status"] == "ok" and not errors, (code, reply, errors)
        printed = "".join(m["content"]["text"] for m in iopub if m["msg_type"] == "stream")
        prefix, profile = printed.split()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve()  # the project's venv
        assert profile == "smoke"
    finally:
        ws.close()
        server.request("DELETE", f"/api/kernels/{kernel['id']}")
