"""Benchmark: labeling (and saving a codebook edit) in a real browser, today's widget against the
Streamlit-button page it replaced, measured in the same run on the same 30,000-thread database.

Database: 30,000 synthetic threads (`annotator.synthetic.generate_threads`, realistic lengths) imported
with the real importer, the default codebook, a reviewer `bench` with 300 assigned threads (K = 3) in
a round of 300, and a lead. It is built once and cached as bench/out/label-browser-30k.sqlite3
(gitignored); each server works on its own fresh copy.

Two servers, one after the other, each started with `annotator serve` (not demo mode):

- baseline: the code of commit --baseline-ref (default 66f9257, the last commit with the Streamlit
  button label page: one button per category with `shortcut=`, Ctrl+Enter submit), extracted with
  `git archive` into a temporary directory and run from there against a copy of the database
  migrated down to that code's schema (revision 0004);
- candidate: this working tree (the keyboard widget, annotator/static/label_widget.js).

Measured in Debian's Chromium (Playwright), viewport 1366x768, for --labels labels each:

- key -> selection shown: from the keydown event's timestamp to the first animation frame in which
  the chosen category shows as chosen (baseline: its button turned primary after the rerun);
- submit -> next thread shown: from the submit key's keydown to the first frame showing another thread;
- (candidate only) submit -> stored: until the server acknowledged the label;
- keys without effect: a key that changes nothing within 10 s is counted as lost and pressed again
  (the button page drops keys now and then; the widget must never).
Between labels the script waits until the page is idle, so every label starts from a quiet page.

With --codebook-saves N (default 5) a lead also saves N definition edits on the Codebook page of each
server: click -> "Saved as codebook version" shown, and -> page idle.

    .venv/bin/python bench/bench_label_browser.py [--labels 40] [--codebook-saves 5] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
CACHED = OUT / "label-browser-30k.sqlite3"
N_THREADS = 30_000
ROUND_SIZE = 300
SEED = 20261129
PASSWORD = "bench-password-1"
BASELINE_REF = "66f9257"
BASELINE_REVISION = "0004"  # the schema of the baseline code
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
KEYS = "1234567890"

# In-page measurement: the keydown's own timestamp to the first animation frame where `check()` holds.
MEASURE_JS = """
window.__deep = (sel) => {
  const direct = document.querySelector(sel);
  if (direct) return direct;
  for (const host of document.querySelectorAll('*')) {
    if (host.shadowRoot) { const hit = host.shadowRoot.querySelector(sel); if (hit) return hit; }
  }
  return null;
};
window.__arm = (check, timeoutMs) => {
  window.__result = new Promise((resolve) => {
    let t0 = null, done = false;
    const onKey = (e) => { if (t0 === null) t0 = e.timeStamp; };
    window.addEventListener('keydown', onKey, true);
    const finish = (value) => { if (!done) { done = true; window.removeEventListener('keydown', onKey, true); resolve(value); } };
    const tick = () => {
      if (done) return;
      if (t0 !== null && check()) finish(performance.now() - t0); else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    setTimeout(() => finish(-1), timeoutMs);  // the key had no visible effect: lost
  });
};
"""
IDLE_JS = ("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0 && "
           "(document.querySelector('[data-testid=\"stApp\"]') || {getAttribute: () => ''})"
           ".getAttribute('data-test-script-state') !== 'running'")


# --- the database --------------------------------------------------------------------------------------

def build(path: Path) -> None:
    """30,000 threads imported with the real importer, the codebook, accounts and the round."""
    from sqlmodel import Session

    from annotator.config import SAMPLE_DATA
    from annotator.data.engine import ensure_schema, make_engine
    from annotator.services.accounts import create_account
    from annotator.services.codebook import import_codebook
    from annotator.services.rounds import create_sampled_round
    from annotator.services.threads import import_threads
    from annotator.synthetic import generate_threads

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{tmp}")
    ensure_schema(engine)
    with tempfile.TemporaryDirectory(prefix="bench-label-") as work:
        csv = Path(work) / "threads.csv"
        for i, chunk in enumerate(generate_threads(N_THREADS, seed=SEED)):
            chunk.drop(columns=["true_category"]).to_csv(csv, mode="a", header=i == 0, index=False)
        report = import_threads(engine, csv, actor="bench")
    with Session(engine, expire_on_commit=False) as s:
        import_codebook(s, SAMPLE_DATA / "codebook.yaml", actor="bench")
        create_account(s, username="bench", password=PASSWORD, display_name="Bench Reviewer", actor="bench")
        create_account(s, username="benchlead", role="lead", password=PASSWORD, display_name="Bench Lead",
                       actor="bench")
        create_sampled_round(s, name="bench", size=ROUND_SIZE, reviewers=["bench", "rev2", "rev3"], per_thread=3,
                             seed=SEED, actor="bench")
    engine.dispose()
    tmp.replace(path)
    print(f"built {path.name} in {time.perf_counter() - t0:.0f} s: {report.summary()}")


def downgrade(db_file: Path, revision: str) -> None:
    """Migrate a copy of the database down to the schema the baseline code expects."""
    from alembic import command

    from annotator.data.engine import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{db_file}")
    command.downgrade(alembic_config(engine), revision)
    engine.dispose()


# --- servers --------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.read().decode().strip() == "ok"
    except OSError:
        return False


def baseline_tree(ref: str, dest: Path) -> Path:
    """The baseline code (annotator/, pages/, db/) of commit `ref`, extracted with git archive."""
    archive = dest / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), ref,
                    "annotator", "pages", "db"], check=True)
    tree = dest / "baseline"
    tree.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


@contextmanager
def server(code: Path, db_file: Path, log: Path) -> Iterator[str]:
    """`python -m annotator.cli serve` from `code` (its own annotator package first on sys.path)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    env.update(ANNOTATOR_SECRET_KEY=secrets.token_urlsafe(32), PYTHONPATH=str(code), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "annotator.cli", "--db", f"sqlite:///{db_file}", "serve",
                                 "--port", str(port)], cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server from {code} did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


# --- the browser ----------------------------------------------------------------------------------------

def _idle(page, widget: bool) -> None:
    page.wait_for_function(IDLE_JS, timeout=60_000)
    if widget:
        page.wait_for_function("() => { const r = window.__deep('.lw'); return r && r.dataset.pending === '0'; }",
                               timeout=60_000)


def _sign_in(page, url: str, username: str) -> None:
    import re

    page.goto(url)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("^Welcome")).wait_for(timeout=60_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)
    page.add_script_tag(content=MEASURE_JS)


LOST_AFTER_MS = 10_000


def _measure(page, check_js: str, key: str, lost: list[str]) -> float:
    """Press `key` until it shows (a key with no effect after 10 s counts as lost and is pressed again)."""
    for _ in range(5):
        page.evaluate(f"window.__arm({check_js}, {LOST_AFTER_MS})")
        page.keyboard.press(key)
        ms = float(page.evaluate("window.__result"))
        if ms >= 0:
            return ms
        lost.append(key)
        page.wait_for_function(IDLE_JS, timeout=60_000)
    raise RuntimeError(f"'{key}' had no effect five times in a row")


def label_run(page, url: str, n: int, *, widget: bool) -> dict[str, list[float]]:
    """Label `n` threads as `bench`; returns the per-label times in ms."""
    _sign_in(page, url, "bench")
    page.get_by_test_id("stSidebar").get_by_role("link", name="Label").click()
    if widget:
        page.locator('.lw[data-view="thread"]').wait_for(timeout=60_000)
    else:
        page.get_by_role("heading", name=__import__("re").compile("^Thread ")).first.wait_for(timeout=60_000)
    page.add_script_tag(content=MEASURE_JS)
    _idle(page, widget)
    out: dict[str, list] = {"select": [], "next": [], "stored": [], "lost": []}
    for i in range(n):
        k = KEYS[i % len(KEYS)]
        if widget:
            before = page.evaluate("window.__deep('.lw').dataset.thread")
            out["select"].append(_measure(
                page, f"() => {{ const b = window.__deep('.lw-cat[data-key=\"{k}\"]'); "
                      f"return !!b && b.getAttribute('aria-pressed') === 'true'; }}", k, out["lost"]))
            t = time.perf_counter()
            out["next"].append(_measure(
                page, f"() => {{ const r = window.__deep('.lw'); return r.dataset.view === 'thread' "
                      f"&& r.dataset.thread !== '{before}'; }}", "Enter", out["lost"]))
            _idle(page, widget)
            out["stored"].append((time.perf_counter() - t) * 1000)
        else:
            before = page.evaluate("(document.querySelector('h4') || {}).innerText || ''")
            index = KEYS.index(k)
            out["select"].append(_measure(
                page, f"() => !!document.querySelector('.st-key-label-cat-{index} [data-testid=\"stBaseButton-primary\"]')",
                k, out["lost"]))
            _idle(page, widget)
            out["next"].append(_measure(
                page, f"() => {{ const h = document.querySelector('h4'); return !!h && h.innerText.startsWith('Thread ') "
                      f"&& h.innerText !== {before!r}; }}", "Control+Enter", out["lost"]))
            _idle(page, widget)
    return out


def codebook_run(page, url: str, n: int, *, new: bool) -> dict[str, list[float]]:
    """Save `n` definition edits as the lead; click -> confirmation shown, and -> page idle (ms)."""
    import re

    from playwright.sync_api import expect

    _sign_in(page, url, "benchlead")
    page.get_by_test_id("stSidebar").get_by_role("link", name="Codebook").click()
    page.get_by_role("tab", name="Edit").wait_for(timeout=60_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)
    out: dict[str, list[float]] = {"shown": [], "idle": []}
    for i in range(n):
        panel = page.get_by_role("tabpanel").first
        if not new:  # the old page: one expander per category; open the second one unless it is open
            expander = panel.get_by_test_id("stExpander").nth(1)
            if not expander.get_by_label("Definition").first.is_visible():
                expander.locator("summary").first.click()
                page.wait_for_function(IDLE_JS, timeout=60_000)
            panel = expander
        area = panel.get_by_label("Definition", exact=True).first
        expect(area).not_to_have_value("", timeout=60_000)  # the edit form is drawn (not the empty Add form)
        page.wait_for_timeout(200)  # let the browser finish drawing the run it was told has finished
        area.fill(area.input_value() + f" edit{i}")
        t = time.perf_counter()
        panel.get_by_role("button", name="Save changes").first.click()
        page.get_by_text(re.compile(r"^Saved as codebook version")).wait_for(timeout=60_000)
        out["shown"].append((time.perf_counter() - t) * 1000)
        page.wait_for_function(IDLE_JS, timeout=60_000)
        out["idle"].append((time.perf_counter() - t) * 1000)
    return out


@contextmanager
def _screenshot_on_error(page, name: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / f"failed-{name}.png"), full_page=True)
        print(f"screenshot of the failure: {OUT / f'failed-{name}.png'}", file=sys.stderr)
        raise


def _stats(ms: list[float]) -> tuple[float, float]:
    s = sorted(ms)
    return statistics.median(s), s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def _row(name: str, base: list[float], cand: list[float], target: str = "") -> None:
    bm, bp = _stats(base)
    cm, cp = _stats(cand)
    print(f"{name:<34} baseline median {bm:7.1f} ms  p95 {bp:7.1f} | widget median {cm:7.1f} ms  p95 {cp:7.1f} "
          f"| {bm / cm if cm else float('inf'):6.1f}x faster {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=40)
    parser.add_argument("--codebook-saves", type=int, default=5)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild or not CACHED.exists():
        build(CACHED)
    from playwright.sync_api import sync_playwright

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-label-browser-") as tmp, sync_playwright() as pw:
        work = Path(tmp)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        old_code = baseline_tree(args.baseline_ref, work)
        for name, code in (("baseline", old_code), ("candidate", ROOT)):
            db_file = work / f"{name}.sqlite3"
            shutil.copyfile(CACHED, db_file)
            if name == "baseline":
                downgrade(db_file, BASELINE_REVISION)
            with server(code, db_file, work / f"{name}.log") as url:
                ctx = browser.new_context(viewport={"width": 1366, "height": 768})
                page = ctx.new_page()
                page.set_default_timeout(60_000)
                with _screenshot_on_error(page, f"{name}-label"):
                    results[name] = label_run(page, url, args.labels, widget=name == "candidate")
                ctx.close()
                print(f"{name}: {args.labels} labels measured", file=sys.stderr)
                if args.codebook_saves:
                    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
                    page = ctx.new_page()
                    with _screenshot_on_error(page, f"{name}-codebook"):
                        results[name] |= {f"cb_{k}": v for k, v in codebook_run(
                            page, url, args.codebook_saves, new=name == "candidate").items()}
                    ctx.close()
                    print(f"{name}: {args.codebook_saves} codebook saves measured", file=sys.stderr)
        browser.close()
    base, cand = results["baseline"], results["candidate"]
    print(f"\n{N_THREADS:,} threads; {args.labels} labels per path; Chromium 1366x768; baseline = {args.baseline_ref}")
    _row("key -> selection shown", base["select"], cand["select"], "(target median < 50 ms)")
    _row("submit -> next thread shown", base["next"], cand["next"], "(target median < 250 ms, p95 < 500 ms)")
    print(f"{'keys without effect (pressed again)':<34} baseline {len(base['lost'])} of "
          f"{2 * args.labels + len(base['lost'])} | widget {len(cand['lost'])} of {2 * args.labels + len(cand['lost'])}")
    sm, sp = _stats(cand["stored"])
    print(f"{'submit -> stored (widget, acknowledged)':<34} median {sm:7.1f} ms  p95 {sp:7.1f}")
    if args.codebook_saves:
        _row("codebook save -> confirmation", base["cb_shown"], cand["cb_shown"], "(target < 1 s)")
        _row("codebook save -> page idle", base["cb_idle"], cand["cb_idle"])
    cm, cp = _stats(cand["select"])
    nm, npct = _stats(cand["next"])
    ok = cm < 50 and nm < 250 and npct < 500
    print(f"targets {'met' if ok else 'NOT met'}; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
