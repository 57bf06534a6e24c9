"""Shared fixtures: every test gets its own, fresh database, on SQLite and on the real PostgreSQL.

- ``db_url``: parametrised over ``sqlite`` (a new file in ``tmp_path``) and ``postgres`` (a database
  ``annotator_test_<hex>`` on 127.0.0.1:5432 as user ``postgres``). Either is at schema head with no rows:
  a copy of a template migrated once per session (a file copy for SQLite; ``CREATE DATABASE ... TEMPLATE``
  for PostgreSQL, whose test databases are emptied (rows deleted, sequences restarted) and reused by
  the next test rather than dropped and re-created, which costs seconds; all are dropped ``WITH (FORCE)``
  at the end of the session). ``empty_db_url`` databases are created and dropped per test.
  The postgres parameter carries the ``postgres`` mark, so ``-m "not postgres"`` runs SQLite only.
  When the server cannot be reached, postgres tests are skipped with the reason; when the environment
  variable ``CI`` is ``true`` they fail instead (never a silent skip in CI).
  ``ANNOTATOR_TEST_PG_ADMIN`` overrides the admin URL (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
- ``empty_db_url``: the same two backends, but with no schema at all (migration and first-run tests).
- ``sqlite_url`` / ``postgres_url`` (migrated) and ``empty_sqlite_url`` / ``empty_postgres_url``: one backend.
- ``engine``: ``make_engine`` + ``ensure_schema`` on ``db_url``, disposed at teardown.
- ``session``: a ``Session`` on ``engine`` (closed at teardown).
- ``fast_password_hashing``: cheap Argon2 parameters for tests that hash many passwords.

Builders for rows, files, codebooks and rounds live in ``tests/factories.py``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotator.data.engine import ensure_schema, make_engine

PG_ADMIN = os.environ.get("ANNOTATOR_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@lru_cache(maxsize=1)
def _postgres_problem() -> str | None:
    """None when the PostgreSQL server answers, else why not (checked once per test session)."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to connect means "no server" here
        return f"PostgreSQL not reachable at {PG_ADMIN}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
    return None


def _sqlalchemy_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN.rpartition("/")
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + dbname


def _require_postgres() -> None:
    problem = _postgres_problem()
    if problem:
        if _in_ci():
            pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run, not skip)")
        print(f"skipping: {problem}")
        pytest.skip(problem)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _migrate(url: str) -> None:
    eng = make_engine(url)
    try:
        ensure_schema(eng)
    finally:
        eng.dispose()


@contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    _require_postgres()
    name = f"annotator_test_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _PostgresPool:
    """Test databases cloned from a template migrated once per session, emptied and reused between tests.

    Creating and dropping a PostgreSQL database costs 0.3-2 s (it waits for checkpoints); emptying one
    (DELETE every table, restart every sequence, one transaction) costs ~25 ms and leaves no row and no
    sequence value behind. A database whose schema a test changed is dropped instead of reused. Every database
    is dropped ``WITH (FORCE)`` when the session ends.
    """

    def __init__(self) -> None:
        self.template = f"annotator_test_{secrets.token_hex(6)}"
        _admin(f'CREATE DATABASE "{self.template}"')
        _migrate(_sqlalchemy_url(self.template))
        with self._connect(self.template) as conn:
            self.schema = self._schema(conn)
        self.free: list[str] = []
        self.made: list[str] = [self.template]

    @staticmethod
    def _schema(conn) -> tuple[str | None, list[str]]:
        version = conn.execute("SELECT max(version_num) FROM alembic_version").fetchone()[0]
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
            "ORDER BY tablename")]
        return version, tables

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"annotator_test_{secrets.token_hex(6)}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return name

    @staticmethod
    def _connect(name: str):
        import psycopg

        return psycopg.connect(PG_ADMIN.rpartition("/")[0] + "/" + name, autocommit=True)

    def give_back(self, name: str) -> None:
        """Empty the database for the next test (rows deleted, sequences restarted), or drop it."""
        try:
            with self._connect(name) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                if self._schema(conn) != self.schema:
                    raise ValueError("the test changed the schema")
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")  # no FK checks: any order
                    for table in self.schema[1]:
                        conn.execute(f'DELETE FROM "{table}"')
                    for (seq,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
                        conn.execute(f'ALTER SEQUENCE "{seq}" RESTART')
        except Exception:  # noqa: BLE001  (not reusable: drop it)
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)
            return
        self.free.append(name)

    def close(self) -> None:
        for name in self.made:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _postgres_pool() -> Iterator[_PostgresPool]:
    _require_postgres()
    pool = _PostgresPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")  # disposing checkpoints the WAL into the file
    return path


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database with no schema."""
    with _postgres_database() as name:
        yield _sqlalchemy_url(name)


@pytest.fixture
def postgres_url(_postgres_pool) -> Iterator[str]:
    """A PostgreSQL database at schema head with no rows (see _PostgresPool)."""
    name = _postgres_pool.take()
    try:
        yield _sqlalchemy_url(name)
    finally:
        _postgres_pool.give_back(name)


@pytest.fixture
def empty_sqlite_url(tmp_path) -> str:
    """A new SQLite file path in this test's tmp_path (nothing created yet)."""
    return f"sqlite:///{tmp_path / 'annotator.sqlite3'}"


@pytest.fixture
def sqlite_url(tmp_path, _sqlite_template) -> str:
    """A new SQLite file at schema head in this test's tmp_path."""
    path = tmp_path / "annotator.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_BACKENDS)
def db_url(request) -> str:
    """A fresh database at schema head, once per backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(params=_BACKENDS)
def empty_db_url(request) -> str:
    """A fresh database with no schema, once per backend."""
    return request.getfixturevalue(f"empty_{request.param}_url")


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    """An engine on a fresh database with the schema migrated to head."""
    eng = make_engine(db_url)
    ensure_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """One session on `engine` (objects stay usable after commit)."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def fast_password_hashing(monkeypatch) -> None:
    """Argon2 with minimal cost parameters (same API, ~1 ms per hash instead of ~0.3 s) for tests that hash often."""
    from argon2 import PasswordHasher

    from annotator.services import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
