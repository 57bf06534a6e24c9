"""Benchmark: what the hardened sign-in and session check cost.

- **Every page run and every action** checks the tab's session: signature, then one indexed join of
  ``websession`` and ``account``. Baseline: the lookup of the account by its unique username alone
  (what any signed-in check needs at least). Target: under 2x the baseline and under 5 ms.
- **A wrong password**: the throttle's atomic reservation (insert-or-ignore, one UPDATE ... RETURNING,
  commit), the Argon2 check and the audit row. Baseline: the Argon2 check alone (the price of any
  password sign-in). Target: under 1.5x.

SQLite in a temporary file (WAL) with ``--accounts`` accounts and ``--sessions`` open sessions.

    .venv/bin/python bench/bench_sessions.py [--accounts 2000] [--sessions 20000] [--checks 2000] [--wrong 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from annotator.data.engine import ensure_schema, make_engine  # noqa: E402
from annotator.data.models import Account, WebSession, utcnow  # noqa: E402
from annotator.errors import NotAllowed  # noqa: E402
from annotator.services import accounts  # noqa: E402


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20000)
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--wrong", type=int, default=20)
    args = ap.parse_args()
    secret = secrets.token_urlsafe(48)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(insert(Account), [dict(username=f"user{i:05d}", display_name=f"User {i}", role="reviewer",
                                                active=True, is_adjudicator=False, failed_logins=0, created_at=utcnow())
                                           for i in range(args.accounts)])
        with Session(engine, expire_on_commit=False) as s:
            target = accounts.create_account(s, username="bench", password="violet-harbour-7")
            token = accounts.start_session(s, target, secret=secret, hours=12)
            ids = list(s.execute(select(Account.id)).scalars())
            now = utcnow()
            from datetime import timedelta

            s.execute(insert(WebSession), [dict(token_hash=secrets.token_hex(32), account_id=ids[i % len(ids)],
                                                 client="", created_at=now, expires_at=now + timedelta(hours=12))
                                            for i in range(args.sessions)])
            s.commit()
            check = _median_ms(lambda: accounts.account_for_token(s, token, secret=secret), args.checks)
            base = _median_ms(lambda: s.execute(select(Account).where(Account.username == "bench")).scalars().first(),
                              args.checks)
            print(f"session check (signature + join)   median {check:6.3f} ms")
            print(f"baseline (account by username)     median {base:6.3f} ms")
            print(f"ratio {check / base:.2f}x (target < 2x and < 5 ms)")

            stored = target.password_hash

            def verify_only():
                try:
                    accounts._hasher.verify(stored, "wrong-password-x")
                except Exception:  # noqa: BLE001
                    pass

            counter = iter(range(10 ** 9))

            def wrong():
                try:  # a fresh address each time, so the throttle never pauses the measurement
                    accounts.authenticate(s, username="bench", password="wrong-password-x",
                                          client=f"10.0.{next(counter)}.1", max_failed=5)
                except NotAllowed:
                    pass

            argon = _median_ms(verify_only, args.wrong)
            full = _median_ms(wrong, args.wrong)
            print(f"wrong password (throttle + Argon2 + audit) median {full:7.1f} ms")
            print(f"baseline (Argon2 check alone)              median {argon:7.1f} ms")
            print(f"ratio {full / argon:.2f}x (target < 1.5x); load average {os.getloadavg()[0]:.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
