"""Demo mode: sample data, the default codebook, demo accounts and demo rounds in an empty database.

Demo accounts exist only while the app runs in demo mode: a start without --demo deactivates them.
Their passwords are new on every demo start (or ANNOTATOR_DEMO_PASSWORD) and are returned so the
CLI can print them on the console; only hashes are stored.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotator.config import SAMPLE_DATA
from annotator.data.models import Account, CodebookVersion, Round, Setting, Thread
from annotator.services import accounts, audit

if TYPE_CHECKING:
    import pandas as pd

# pandas, numpy and the import/sampling services are imported only when something of the demo is
# missing (its first start): a restart only renews the demo accounts' passwords, and starts faster.

log = logging.getLogger(__name__)
DEMO_ACCOUNTS = [
    ("reviewer1", "reviewer", "Dr. Ada Reviewer", False),
    ("reviewer2", "reviewer", "Dr. Ben Reviewer", False),
    ("reviewer3", "reviewer", "Dr. Chen Reviewer", False),
    ("adjudicator", "reviewer", "Dr. Dana Adjudicator", True),
    ("lead", "lead", "Lee Lead", False),
    ("admin", "admin", "Ari Admin", False),
]
DEMO_ROUND = "demo"
PILOT_ROUND = "pilot"
PILOT_REVIEWERS = ("pilot-wh", "pilot-kb", "pilot-sm")
_SETTING = "demo_accounts"


def sample_threads_file() -> Path:
    for name in ("threads.csv.gz", "threads.csv"):
        if (SAMPLE_DATA / name).exists():
            return SAMPLE_DATA / name
    raise FileNotFoundError(f"no sample threads in {SAMPLE_DATA}")


def simulate_reviewer_labels(truth: pd.Series, categories: list[str], reviewers: tuple[str, ...], *, seed: int,
                             accuracy: float = 0.92, unsure_rate: float = 0.03) -> pd.DataFrame:
    """Synthetic labels: each reviewer gives the intended category with probability `accuracy`,
    otherwise a neighbouring category in codebook order (a realistic boundary confusion)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(categories)}
    rows = []
    for thread_id, true in truth.items():
        for reviewer in reviewers:
            cat = true
            if rng.random() > accuracy:
                i = index.get(true, len(categories) - 1)
                cat = categories[(i + rng.choice([-1, 1, 2])) % len(categories)]
            rows.append({"thread_id": thread_id, "reviewer": reviewer, "category": cat,
                         "unsure": "yes" if rng.random() < unsure_rate else ""})
    return pd.DataFrame(rows)


def load_demo(engine: Engine, *, password: str | None = None, seed: int = 20240422) -> dict[str, str]:
    """Load what is missing of the demo, (re)activate demo accounts with fresh passwords; return them."""
    with Session(engine) as s:
        has_threads = s.execute(select(Thread.id).limit(1)).first() is not None
    if not has_threads:
        from annotator.services.threads import import_threads

        report = import_threads(engine, sample_threads_file(), actor="demo")
        log.info("demo: %s", report.summary())
    creds = {username: password or secrets.token_urlsafe(9) for username, *_ in DEMO_ACCOUNTS}
    with Session(engine, expire_on_commit=False) as s:
        if s.execute(select(CodebookVersion.id).limit(1)).first() is None:
            from annotator.services.codebook import import_codebook

            import_codebook(s, SAMPLE_DATA / "codebook.yaml", actor="demo")

        existing = []
        for username, role, name, adjudicator in DEMO_ACCOUNTS:  # created in this order: stable ids
            if accounts.get_account(s, username) is None:
                accounts.create_account(s, username=username, role=role, password=creds[username], display_name=name,
                                        is_adjudicator=adjudicator, actor="demo")
            else:
                existing.append(username)

    def renew(username: str) -> None:
        # A restart: one session per account, in parallel, since argon2 hashing (~0.5 s each) runs outside the GIL.
        with Session(engine, expire_on_commit=False) as s2:
            accounts.update_account(s2, username=username, active=True, actor="demo")
            accounts.set_password(s2, username=username, password=creds[username], actor="demo")

    with ThreadPoolExecutor(max_workers=max(1, min(len(existing), os.cpu_count() or 1))) as pool:
        list(pool.map(renew, existing))
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(Setting, _SETTING) or Setting(key=_SETTING)
        row.value = json.dumps([a[0] for a in DEMO_ACCOUNTS])
        s.add(row)
        s.commit()
        if not _has_round(s, PILOT_ROUND):
            _pilot_round(s, seed=seed)
        if not _has_round(s, DEMO_ROUND):
            from annotator.services.rounds import create_sampled_round

            create_sampled_round(s, name=DEMO_ROUND, size=30, reviewers=["reviewer1", "reviewer2", "reviewer3"],
                                 per_thread=3, seed=seed, exclude_sampled=True, actor="demo")
    if not _insights_present(engine):  # a restart skips importing the dashboard and scikit-learn (seconds)
        from annotator.services.demo_insights import load_demo_insights

        load_demo_insights(engine, seed=seed)
    return creds


def _insights_present(engine: Engine) -> bool:
    """The demo's model run over all threads and its alert rule exist (made at the first demo start)."""
    from annotator.data.models import AlertRule, ModelRun

    with Session(engine) as s:
        run = s.execute(select(ModelRun.id).where(ModelRun.scope == "all", ModelRun.status == "done").limit(1)).first()
        rule = s.execute(select(AlertRule.id).where(AlertRule.created_by == "demo").limit(1)).first()
    return run is not None and rule is not None


def _has_round(s: Session, name: str) -> bool:
    return s.execute(select(Round.id).where(Round.name == name)).first() is not None


def _pilot_round(s: Session, *, seed: int) -> None:
    """A fully labeled pilot round (as if imported from the reviewers' spreadsheet), with disagreements."""
    import pandas as pd

    from annotator.services.codebook import category_names
    from annotator.services.rounds import create_sampled_round, import_labels

    sample = create_sampled_round(s, name=PILOT_ROUND, size=150, reviewers=list(PILOT_REVIEWERS), per_thread=3,
                                  seed=seed + 1, actor="demo")
    ids = s.execute(select(Thread.external_id, Thread.meta)
                    .where(Thread.id.in_(select_thread_ids(s, sample.round.id)))).all()
    truth = pd.Series({ext: (meta or {}).get("true_category", "Other") for ext, meta in ids})
    cats = category_names(s, sample.round.codebook_version_id)
    truth = truth.where(truth.isin(cats), "Other")
    labels = simulate_reviewer_labels(truth, cats, PILOT_REVIEWERS, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pilot_labels.csv"
        labels.to_csv(path, index=False)
        import_labels(s, path, round_name=PILOT_ROUND, actor="demo")
    audit.record(s, actor="demo", action="demo_pilot_labels", entity="round", entity_id=PILOT_ROUND)
    s.commit()


def select_thread_ids(s: Session, round_id: int):
    from annotator.data.models import Assignment

    return select(Assignment.thread_id).where(Assignment.round_id == round_id).distinct()


def disable_demo_accounts(engine: Engine) -> list[str]:
    """Outside demo mode, demo accounts cannot sign in."""
    with Session(engine) as s:
        row = s.get(Setting, _SETTING)
        names = json.loads(row.value) if row and row.value else []
        disabled = []
        for acc in s.execute(select(Account).where(Account.username.in_(names), Account.active == True)).scalars():  # noqa: E712
            accounts.update_account(s, username=acc.username, active=False, actor="serve")
            disabled.append(acc.username)
    return disabled
