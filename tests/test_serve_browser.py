"""Issue 8: serve.py's page in a real headless browser (Debian's Chromium driven by Playwright).

Upload the astronaut, move the happiness slider with the mouse, and the edited face must change;
every request the page makes must stay on this machine (no analytics, fonts or scripts from the
internet); a photo without a face gives the message. `FACEVAE_DOCS=1` saves the screenshot as
docs/serve_page.png (with `FACEVAE_DOCS_CKPT=<checkpoint>`'s model when set).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from tests import test_edit

from .conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags that work on the project machines (no GPU, closed network, root): without the
# background-networking ones Chromium keeps trying to reach Google's hosts.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = {"127.0.0.1", "localhost", "::1"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium is not installed (apt-get install -y chromium)")

docs_ckpt = test_edit.docs_ckpt  # the shared session fixtures: one smoke β-VAE per session
ssvae_ckpt = test_edit.ssvae_ckpt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def move_happiness_slider(page) -> tuple[str, str]:
    """Move the happiness slider the way a person does (a click on its track, right of the middle) and wait
    for the edited face to change; its image source before and after."""
    before = page.get_attribute("#edited-face img", "src")
    track = page.locator("#slider-happiness input[type=range]").bounding_box()
    page.mouse.click(track["x"] + 0.8 * track["width"], track["y"] + track["height"] / 2)
    page.wait_for_function("s => { const i = document.querySelector('#edited-face img');"
                           " return i && i.src !== s; }", arg=before, timeout=60_000)
    return before, page.get_attribute("#edited-face img", "src")


@contextlib.contextmanager
def running_server(ckpt: Path, tmp_path: Path, *args: str):
    """serve.py on a free port with `args`; yields its URL and stops it afterwards."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), f"ckpt_path={ckpt}", f"port={port}",
                             f"hydra.run.dir={tmp_path / 'run'}", *args], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.flush()
                    pytest.fail(f"serve.py did not start:\n{(tmp_path / 'serve.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture()
def server(docs_ckpt, tmp_path):
    with running_server(docs_ckpt, tmp_path) as url:
        yield url


def fetch_image(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=10) as r:
        return np.asarray(Image.open(io.BytesIO(r.read())))


def test_upload_move_a_slider_and_the_face_changes(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright gives every launch a new empty profile (its own --user-data-dir in a temp folder).
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(server)
            page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("#photo input[type=file]", str(test_edit.ASTRONAUT))
            page.wait_for_selector("#edited-face img", timeout=60_000)
            assert "reads this face as" in page.inner_text("#status")
            before, after = move_happiness_slider(page)
            assert float(page.input_value("#slider-happiness input[type=number]")) > 1
            assert "happiness +1." in page.inner_text("#status")
            old, new = fetch_image(before), fetch_image(after)
            assert old.shape == new.shape and np.abs(old.astype(int) - new.astype(int)).sum() > 0
            assert page.locator("#pasted img").count() == 1 and page.locator("#judge").inner_text().strip()
            # A photo without a face, in a fresh page: the page says so.
            wall = tmp_path / "wall.png"
            Image.fromarray(np.full((300, 300, 3), 90, np.uint8)).save(wall)
            page.goto(server)
            page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("#photo input[type=file]", str(wall))
            page.wait_for_function("() => document.querySelector('#status').innerText.includes('no face found')",
                                   timeout=60_000)
            assert page.locator("#edited-face img").count() == 0
        finally:
            browser.close()
    outside = sorted({u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname not in LOCAL})
    assert not outside, f"the page reached outside this machine: {outside}"
    assert len(requests) > 5


def test_page_opens_with_the_demo_photo_ready_for_the_sliders(docs_ckpt, tmp_path):
    """`make demo`'s page: serve.py photo=<a London test person> shows that face edited before any upload."""
    from playwright.sync_api import sync_playwright

    photo = ROOT / "facevae/data/london_set/images/neutral/020.jpg"
    with running_server(docs_ckpt, tmp_path, f"photo={photo}", "source=neutral") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#edited-face img", timeout=60_000)  # no upload: the photo was given
            assert "Edits start from neutral (source=neutral)" in page.inner_text("#status")  # as `make demo` runs it
            move_happiness_slider(page)
            assert "happiness +1." in page.inner_text("#status")
            shot = tmp_path / "serve_page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    test_edit.to_docs(shot, "serve_page.png")
