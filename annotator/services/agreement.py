"""Agreement statistics over the independent (pre-adjudication) labels of one or more rounds."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, CodebookVersion, Label, Thread
from annotator.services.adjudication import consensus_frame
from annotator.services.codebook import category_names, chain_renames
from annotator.services.rounds import require_round
from annotator.stats.agreement import agreement_report

PROVENANCE_WORDS = {"unanimous": "unanimous", "majority": "accepted by majority",
                    "adjudicated": "adjudicated by a lead", "third_reviewer": "decided by a third reviewer"}


def ratings_frame(session: Session, round_names: list[str]) -> pd.DataFrame:
    """Long ratings (item, reviewer, category) of the rounds; items are 'round/thread' so rounds stay apart.
    Category names are mapped through later codebook versions' renames (merges) for reporting."""
    frames = []
    renames = codebook_renames(session)
    for name in round_names:
        rnd = require_round(session, name)
        rows = session.execute(
            select(Thread.external_id, Account.username, Label.category)
            .join(Thread, Thread.id == Label.thread_id).join(Account, Account.id == Label.reviewer_id)
            .where(Label.round_id == rnd.id)).all()
        df = pd.DataFrame(rows, columns=["thread", "reviewer", "category"])
        df["item"] = name + "/" + df["thread"].astype(str)
        frames.append(df[["item", "reviewer", "category"]])
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["item", "reviewer", "category"])
    if renames:
        out["category"] = out["category"].map(lambda c: renames.get(c, c))
    return out


def codebook_renames(session: Session) -> dict[str, str]:
    """Old category name -> its name in the newest version, following every version's renames."""
    steps = session.execute(select(CodebookVersion.renames).order_by(CodebookVersion.version)).scalars()
    return chain_renames(steps)


def resolution_text(provenance_counts: Counter, pending: int) -> str:
    parts = [f"{n} {PROVENANCE_WORDS.get(p, p)}" for p, n in provenance_counts.most_common() if p]
    text = "Final labels: " + (", ".join(parts) if parts else "none yet")
    if pending:
        text += f"; {pending} thread(s) still awaiting a decision"
    return text + ". Disagreements were resolved by consensus discussion or adjudication by a third reviewer."


def agreement_for_rounds(session: Session, round_names: list[str], *, n_boot: int = 1000, seed: int = 0,
                         interval: str = "bca") -> dict:
    """The agreement report (see annotator.stats.agreement) for these rounds, with consensus and provenance."""
    ratings = ratings_frame(session, round_names)
    renames = codebook_renames(session)
    first = require_round(session, round_names[0])
    cats = [renames.get(c, c) for c in category_names(session, first.codebook_version_id)]
    cats = list(dict.fromkeys(cats))
    consensus: dict[str, str] = {}
    provenance: Counter = Counter()
    pending = 0
    for name in round_names:
        cf = consensus_frame(session, name)
        for tid, cat, prov, status in zip(cf["thread_id"], cf["category"], cf["provenance"], cf["status"]):
            if status == "final":
                consensus[f"{name}/{tid}"] = renames.get(cat, cat)
                provenance[prov] += 1
            else:
                pending += 1
    report = agreement_report(ratings, categories=cats, consensus=consensus, n_boot=n_boot, seed=seed,
                              interval=interval)
    report["rounds"] = list(round_names)
    report["consensus_provenance"] = dict(provenance)
    report["consensus_pending"] = pending
    report["resolution"] = resolution_text(provenance, pending)
    return report
