"""Fixtures for the real-browser test: the real server (`annotator serve --demo`) on a free port with a
fresh SQLite database, and Debian's Chromium driven by Playwright (never a downloaded browser).

Without /usr/bin/chromium or the playwright package the tests are skipped with the reason, except in
CI (environment CI=true), where they fail instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
DEMO_PASSWORD = "e2e-demo-password-1"
START_TIMEOUT = 120.0  # the demo imports 2,500 threads and hashes six passwords before the server starts


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run, not skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    db_url: str
    password: str
    log: Path


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.read().decode().strip() == "ok"
    except OSError:
        return False


@contextmanager
def run_server(db_url: str, log: Path, *, demo: bool = False, env: dict | None = None, port: int | None = None,
               extra: tuple[str, ...] = ()) -> Iterator[Server]:
    """`python -m annotator.cli --db URL serve [--demo] --port P` in its own process group, until healthy;
    stopped (the group this started, nothing else) when the block ends."""
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    environ.update(PYTHONUNBUFFERED="1", **(env or {}))
    args = [sys.executable, "-m", "annotator.cli", "--db", db_url, "serve", *(["--demo"] if demo else []),
            "--host", "127.0.0.1", "--port", str(port), *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no healthy server after {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield Server(url=url, db_url=db_url, password=(env or {}).get("ANNOTATOR_DEMO_PASSWORD", ""), log=log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the process group this function created, nothing else
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    """`python -m annotator.cli --db sqlite:///<tmp> serve --demo --port <free>` in its own process group."""
    data = ROOT / "sample_data"
    if not (data / "codebook.yaml").exists() or not any((data / n).exists() for n in ("threads.csv", "threads.csv.gz")):
        pytest.fail("sample_data/codebook.yaml and sample_data/threads.csv(.gz) are needed by the demo")
    db_url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    with run_server(db_url, tmp_path / "server.log", demo=True,
                    env={"ANNOTATOR_DEMO_PASSWORD": DEMO_PASSWORD}) as srv:
        yield srv


@pytest.fixture
def chromium() -> Iterator:
    """Debian's Chromium (headless) through Playwright; tests open their own contexts (cookie jars)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium) -> Iterator:
    """A Playwright page in Debian's Chromium (headless)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page


@pytest.fixture
def laptop_page(chromium) -> Iterator:
    """A Playwright page the size of a 1366x768 laptop screen."""
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
