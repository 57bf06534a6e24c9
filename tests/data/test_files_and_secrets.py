"""Files and secrets (issue 14, item 7) and several processes on one database (item 8), with real
processes on SQLite and PostgreSQL:

- the SQLite database and its WAL and shared-memory files are private (0600);
- credentials in --base-url / ANNOTATOR_LLM_BASE_URL are refused, and never reach the run's row;
- two `annotator classify` processes on the same scope: the second waits for the first and asks the
  loopback OpenAI server nothing (requests counted once);
- two processes rebuilding the dashboard's stored aggregate at once: it is built once, not twice;
- `annotator serve` refuses a weak ANNOTATOR_SECRET_KEY, ignores ANNOTATOR_DEMO, and keeps --demo on
  this computer unless --demo-on-network is given.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.engine import ensure_schema, make_engine
from annotator.data.models import AggregateCache, ModelRun, Prediction
from tests.factories import make_codebook, make_threads, run_cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("llm_env")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path):
    old = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        db = tmp_path / "fresh" / "annotator.sqlite3"
        engine = make_engine(f"sqlite:///{db}")
        ensure_schema(engine)
        with Session(engine) as s:
            make_codebook(s)
            wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
            assert wal.exists() and shm.exists()  # WAL mode, while a connection is open
            assert {p.name: oct(_mode(p)) for p in (db, wal, shm)} == {p.name: "0o600" for p in (db, wal, shm)}
        engine.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_made_private(tmp_path):
    db = tmp_path / "old.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    ensure_schema(engine)
    engine.dispose()
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600


@pytest.mark.parametrize("flag", ["--base-url", "env"])
def test_credentials_in_the_base_url_are_refused_and_never_stored(db_url, session, fake, flag, monkeypatch):
    make_codebook(session)
    make_threads(session, 3, seed=1)
    secret_url = fake.base_url.replace("http://", "http://admin:s3cr3t-key@")
    if flag == "env":
        monkeypatch.setenv("ANNOTATOR_LLM_BASE_URL", secret_url)
        res = run_cli(["classify", "--all"], db_url)
    else:
        res = run_cli(["classify", "--all", "--base-url", secret_url], db_url)
    assert res.exit_code == 1
    assert res.stderr.startswith("error: the base URL contains a user name or password")
    assert "s3cr3t-key" not in res.output
    assert fake.count("chat") == 0
    assert session.execute(select(func.count()).select_from(ModelRun)).scalar_one() == 0
    res = run_cli(["classify", "--all", "--base-url", f"{fake.base_url}?api_key=s3cr3t-key"], db_url)
    assert res.exit_code == 1 and "key or token in its query string" in res.stderr


def test_the_run_row_keeps_only_the_address(db_url, session, fake):
    from annotator.services.classify import plan_run

    make_codebook(session)
    make_threads(session, 2, seed=1)
    plan = plan_run(session, backend="openai", model="m", base_url="http://u:p@gpu-box:8000/v1?x=1")
    assert plan.run.base_url == "http://gpu-box:8000/v1"


def _annotator() -> list[str]:
    script = Path(sys.executable).with_name("annotator")
    return [str(script)] if script.exists() else [sys.executable, "-m", "annotator.cli"]


def test_two_classify_processes_on_the_same_scope_pay_once(db_url, session, tmp_path):
    """Attack: two `classify` processes on one scope used to ask (and pay for) every thread twice.

    The loopback server holds every answer until the second process has said that it waits for the
    first (or, were there no lock, until it would have sent its own requests: 20 s), so the two runs
    overlap for certain."""
    import threading

    from tests.fake_openai import FakeOpenAI, default_category

    n = 6
    make_codebook(session)
    make_threads(session, n, seed=2, text=[f"thread {i}: please draft an email [[category: Coding]]" for i in range(n)])
    gate = threading.Event()

    def answer(user, names):
        gate.wait(timeout=60)
        return default_category(user, names)

    env = dict(os.environ, OPENAI_API_KEY="test")
    with FakeOpenAI(answer=answer) as fake:
        cmd = [*_annotator(), "--db", db_url, "classify", "--all", "--base-url", fake.base_url, "--concurrency", "2"]
        first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        second = None
        try:
            deadline = time.monotonic() + 120
            while fake.count("chat") < 1:  # the first process holds the scope's lock and is asking
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            err_file = tmp_path / "second.err"
            with open(err_file, "w") as err:
                second = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
            deadline = time.monotonic() + 20
            while "waiting for it to finish" not in err_file.read_text() and time.monotonic() < deadline \
                    and second.poll() is None:
                time.sleep(0.05)
            gate.set()
            out2, _ = second.communicate(timeout=300)
            out1, err1 = first.communicate(timeout=300)
        finally:
            gate.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        err2 = err_file.read_text()
        assert first.returncode == 0 and second.returncode == 0, (err1, err2)
        assert "another classification of the same threads with the same model is running" in err2
        assert fake.count("chat") == n  # every thread asked once, by the first process
    assert f"{n} threads, 0 from cache, {n} asked" in out1
    assert f"{n} threads, {n} from cache, 0 asked" in out2 and ", 0 requests," in out2
    session.expire_all()
    answered = session.execute(select(func.count()).select_from(Prediction).where(Prediction.cached == False)).scalar_one()  # noqa: E712
    assert answered == n


CHILD = r"""
import sys, time
from sqlmodel import Session
from annotator.data.engine import make_engine
from annotator.services import dashboard

built = []
real = dashboard.model_cube

def slow_cube(session, run_id):
    built.append(run_id)
    time.sleep(0.5)  # a long pass over the corpus, so the other process asks meanwhile
    return real(session, run_id)

dashboard.model_cube = slow_cube
engine = make_engine(sys.argv[1])
with open(sys.argv[2], "a"):
    pass
while not __import__("os").path.exists(sys.argv[3]):  # both start together
    time.sleep(0.01)
with Session(engine) as s:
    cube = dashboard.stored_cube(s, None)
print(len(built), int(cube["n"].sum()))
"""


def test_two_app_processes_rebuild_the_stored_aggregate_once(db_url, session, tmp_path):
    make_codebook(session)
    make_threads(session, 40, seed=3)
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, db_url, str(tmp_path / f"ready{i}"), str(go)],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.02)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(tuple(int(x) for x in out.split()))
    assert sorted(r[0] for r in results) == [0, 1]  # one process built it, the other read it
    assert {r[1] for r in results} == {40}
    session.expire_all()
    assert session.execute(select(func.count()).select_from(AggregateCache)).scalar_one() == 1


# --- serve: secrets and demo mode -------------------------------------------------------------------

def _serve(args: list[str], env: dict[str, str], db_url: str, tmp_path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    environ.update(env)
    return subprocess.run([*_annotator(), "--db", db_url, "serve", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("key", [None, "short", "change-me-change-me-change-me-change-me-change-me"])
def test_serve_refuses_a_missing_weak_or_placeholder_secret(sqlite_url, tmp_path, key):
    env = {"ANNOTATOR_DEMO": "1"} if key is None else {"ANNOTATOR_SECRET_KEY": key, "ANNOTATOR_DEMO": "1"}
    res = _serve(["--port", "1"], env, sqlite_url, tmp_path)  # ANNOTATOR_DEMO in the environment changes nothing
    assert res.returncode == 1
    assert res.stderr.startswith("error: ANNOTATOR_SECRET_KEY ")
    assert "Demo accounts" not in res.stdout


def test_demo_stays_on_this_computer_unless_forced(sqlite_url, tmp_path):
    res = _serve(["--demo", "--host", "0.0.0.0", "--port", "1"], {}, sqlite_url, tmp_path)
    assert res.returncode == 1
    assert "--demo listens only on this computer (127.0.0.1), not 0.0.0.0" in res.stderr
    assert "Demo accounts" not in res.stdout
    res = _serve(["--demo-on-network", "--port", "1"], {}, sqlite_url, tmp_path)
    assert res.returncode == 2 and "--demo-on-network goes with --demo" in res.stderr
