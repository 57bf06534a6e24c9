"""Engine creation (SQLite WAL + foreign keys + busy timeout, or PostgreSQL) and schema upgrade via Alembic.

Both kinds of engine refuse text with a NUL character before it reaches the database (PostgreSQL
cannot store it and would answer with an error quoting the SQL; SQLite would store it silently), with
one line naming the field. A SQLite database file and its WAL and shared-memory files are private to
the account that runs the app (mode 0600): they hold password hashes and thread texts.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from annotator.config import REPO_ROOT
from annotator.errors import InvalidInput

log = logging.getLogger(__name__)
MIGRATIONS = REPO_ROOT / "db"
PRIVATE = 0o600


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _field(context, key) -> str:
    """The column a bound parameter belongs to, as a user would name it ('note', 'rationale')."""
    if isinstance(key, int):  # positional: the compiled statement's bind names, repeated per row of a batch
        names = getattr(getattr(context, "compiled", None), "positiontup", None) or []
        key = names[key % len(names)] if names else "text"
    return re.sub(r"_\d+$", "", str(key)).removeprefix("param") or "text"


def _reject_nul(conn, cursor, statement, parameters, context, executemany) -> None:
    """Stop any statement that would store text containing a NUL character, with one clear line."""
    batch = (executemany and isinstance(parameters, (list, tuple)) and len(parameters) > 0
             and isinstance(parameters[0], (dict, list, tuple)))
    for row in (parameters if batch else (parameters,)):
        items = row.items() if isinstance(row, dict) else enumerate(row or ())
        for key, value in items:
            if isinstance(value, str) and "\x00" in value:
                raise InvalidInput(f"'{_field(context, key)}' contains a NUL character (\\0), which cannot be stored: "
                                   "remove it and try again; nothing was changed")


def _private_file(path: Path) -> None:
    """Create the SQLite file (and tighten an existing one and its -wal/-shm) to mode 0600; SQLite
    gives the WAL and shared-memory files it creates the database file's mode."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(part.stat().st_mode)
            if mode & 0o077:
                os.chmod(part, PRIVATE)
                log.info("made %s private (mode %o -> 600)", part.name, mode)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by other accounts and cannot be made private (not its owner)", part.name)


def make_engine(url: str) -> Engine:
    """One engine per process. SQLite gets WAL, foreign keys and a busy timeout on every connection,
    and a private (0600) file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            _private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(engine, "before_cursor_execute", _reject_nul)
    return engine


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` with Alembic."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Upgrade the schema when it is missing or behind (cheap when already current)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        log.info("upgrading schema from %s to %s", current, head)
        upgrade(engine)


def is_empty(engine: Engine) -> bool:
    return not inspect(engine).has_table("thread")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short session for one action; the caller commits (services) or only reads (queries)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
