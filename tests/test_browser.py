"""The retrieval browser in a real browser: JupyterLab served headless, Chromium driven by Playwright.

The notebook is opened from the repository, every cell is run through JupyterLab's own command, and the
test reads what the page shows: k gallery images, then different images after the query changes.
Autosave is switched off so the committed notebook never gains outputs; the test checks that it did not.
Without Chromium or Playwright the test is skipped, except under CI (env ``CI`` set), where it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/07_retrieval_browser.ipynb"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90
NOTEBOOK_RUN_S = 240
UPDATE_S = 60


def _chromium() -> str:
    """Debian's Chromium, or skip (locally) / fail (in CI) with what to install."""
    path = os.environ.get("VIREID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None or not os.path.isfile(path):
        problem = "chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed (pip install playwright)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI must run the real-browser test")
        pytest.skip(problem)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float, proc: subprocess.Popen, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture()
def chromium() -> str:
    return _chromium()


@pytest.fixture()
def jupyter_lab(chromium: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on a free local port with a random token, isolated settings and no autosave.

    Yields the base URL and the token; the server and its kernels are shut down afterwards, whatever
    happened.
    """
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               IPYTHONDIR=str(tmp_path / "ipython"), VIREID_SMOKE=os.environ.get("VIREID_SMOKE", "1"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}", f"--ServerApp.root_dir={ROOT}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/status?token={token}", time.monotonic() + SERVER_START_S, proc, log)
        yield base, token
    finally:
        try:  # a clean shutdown stops the kernels too
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# JavaScript run in the page. The notebook panel is JupyterLab's current widget (exposed by
# --LabApp.expose_app_in_browser).
_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && !!w.content;
}"""
_PROGRESS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  for (const cell of w.content.model.cells) {
    if (cell.type !== 'code') continue;
    for (const o of cell.outputs.toJSON()) {
      if (o.output_type === 'error') return {error: o.ename + ': ' + o.evalue + '\\n' + o.traceback.join('\\n')};
    }
  }
  return {count: document.querySelectorAll('.vireid-gallery .vireid-card img').length};
}"""
_IMAGE_HASHES = """async () => {
  const out = [];
  for (const img of document.querySelectorAll('.vireid-gallery .vireid-card img')) {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    out.push(Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join(''));
  }
  return out;
}"""


def _wait_gallery(page, expected: int, timeout_s: float) -> None:
    """Poll until ``expected`` gallery images show; fail early with the traceback if a cell raised."""
    deadline = time.monotonic() + timeout_s
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_PROGRESS)
        if "error" in state:
            pytest.fail(f"a notebook cell raised in the browser:\n{state['error'][-4000:]}")
        if state["count"] == expected:
            return
        time.sleep(0.5)
    pytest.fail(f"expected {expected} gallery images within {timeout_s} s, the page shows {state.get('count')}")


def _top_k(notebook: Path) -> int:
    """The notebook's TOP_K parameter, read from its parameter cell."""
    for cell in json.loads(notebook.read_text())["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("TOP_K ="):
                return int(line.split("=", 1)[1].split("#")[0])
    raise AssertionError(f"{notebook} has no 'TOP_K = ...' line in its parameter cell")


def test_browser_shows_gallery_and_follows_query(chromium: str, jupyter_lab: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    base, token = jupyter_lab
    notebook = ROOT / NOTEBOOK
    before_bytes = hashlib.sha256(notebook.read_bytes()).hexdigest()
    k = _top_k(notebook)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=SERVER_START_S * 1000)
            page.wait_for_function(_KERNEL_IDLE, timeout=SERVER_START_S * 1000, polling=500)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _wait_gallery(page, k, NOTEBOOK_RUN_S)
            first = page.evaluate(_IMAGE_HASHES)
            assert len(first) == k

            page.locator(".vireid-next button, button.vireid-next").first.click()
            deadline = time.monotonic() + UPDATE_S
            second = first
            while second == first and time.monotonic() < deadline:
                time.sleep(0.5)
                second = page.evaluate(_IMAGE_HASHES)
            _wait_gallery(page, k, UPDATE_S)
            second = page.evaluate(_IMAGE_HASHES)
        finally:
            browser.close()
    assert len(second) == k
    assert second != first, "the gallery images did not change after moving to the next query"
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == before_bytes, "the notebook file was modified"
