"""Named advisory locks shared by every process that uses the same database.

PostgreSQL: ``pg_advisory_lock`` on a connection of its own, held while the ``with`` block runs (the
server releases it if the process dies). SQLite: an exclusive ``flock`` on a small private file next
to the database (``<db>.locks/<hash>.lock``; the kernel releases it if the process dies), so waiting
for the lock never holds SQLite's write lock and other writers carry on. In-memory SQLite databases
live in one process: a thread lock is enough there.

Used where two processes must not do the same expensive thing at once: classifying the same scope
(so the second one finds the first one's answers in the cache and pays nothing) and rebuilding a
stored aggregate (so it is rebuilt once, not once per app process).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

log = logging.getLogger(__name__)
_thread_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _key64(name: str) -> int:
    """A signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def _engine_of(bind: Engine | Connection) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


@contextmanager
def _postgres(engine: Engine, name: str, wait: bool, on_wait) -> Iterator[bool]:
    key = _key64(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        if not got and wait:
            on_wait()
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            got = True
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _file(path: Path, wait: bool, on_wait) -> Iterator[bool]:
    import fcntl

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            got = True
        except BlockingIOError:
            got = False
            if wait:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
                got = True
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _thread(name: str, wait: bool, on_wait) -> Iterator[bool]:
    with _guard:
        lock = _thread_locks.setdefault(name, threading.Lock())
    got = lock.acquire(blocking=False)
    if not got and wait:
        on_wait()
        got = lock.acquire()
    try:
        yield got
    finally:
        if got:
            lock.release()


@contextmanager
def advisory_lock(bind: Engine | Connection, name: str, *, wait: bool = True, waiting: str | None = None) -> Iterator[bool]:
    """Hold the lock `name` for the database `bind` points at while the block runs.

    When another process holds it, `waiting` (a sentence for the user) is logged as a warning, else a
    note at info level, and the call waits. With ``wait=False`` the block runs at once and receives
    False when another holder has the lock (do not do the work then). Yields True when the lock is held."""
    engine = _engine_of(bind)
    url = make_url(str(engine.url))
    started = time.monotonic()

    def on_wait() -> None:
        if waiting:
            log.warning("%s", waiting)
        else:
            log.info("waiting for another process (%s)", name.split("|", 1)[0])

    if url.get_backend_name() == "postgresql":
        cm = _postgres(engine, name, wait, on_wait)
    elif url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        db = Path(url.database)
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]
        cm = _file(db.with_name(db.name + ".locks") / f"{digest}.lock", wait, on_wait)
    else:
        cm = _thread(f"{url}|{name}", wait, on_wait)
    with cm as got:
        waited = time.monotonic() - started
        if got and waited > 1:
            log.info("waited %.1f s for another process (%s)", waited, name.split("|", 1)[0])
        yield got

