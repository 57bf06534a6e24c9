"""Agreement statistics over the independent (pre-adjudication) labels of one or more rounds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlmodel import Session

from annotator.errors import InvalidInput
from annotator.services.codebook import category_names
from annotator.services.consensus import METHOD_WORDS, PENDING_REASONS, Completeness, Consensus, read_consensus, reason_text
from annotator.stats.agreement import agreement_report, reviewer_overlap

MIN_COMMON_THREADS = 2


def check_reviewers(cons: Consensus, exclude_reviewers: Iterable[str] = (), *,
                    single_label_design_ok: bool = False) -> list[str]:
    """The reviewers left out, validated; refuses (one line) when a reviewer left in shares fewer than
    two threads with every other reviewer: no agreement figure can be computed for them, and in an
    imported spreadsheet it is most often a misspelt name. With ``single_label_design_ok`` a round where
    no reviewer shares two threads with another (one label per thread by design) passes: figures that
    need two reviewers are then undefined, with their reason."""
    excluded = sorted(set(exclude_reviewers))
    known = set(cons.votes["reviewer"])
    unknown = [r for r in excluded if r not in known]
    if unknown:
        raise InvalidInput(f"--exclude-reviewer: no reviewer '{unknown[0]}' labelled in these rounds "
                           f"(reviewers: {', '.join(sorted(known)[:10]) or 'none'})")
    ratings = cons.ratings(exclude_reviewers=excluded)
    lacking = {r: n for r, n in reviewer_overlap(ratings[["item", "reviewer", "category"]]).items()
               if n < MIN_COMMON_THREADS}
    if lacking and single_label_design_ok and len(lacking) == len(set(ratings["reviewer"])):
        return excluded
    if lacking:
        name, n = sorted(lacking.items())[0]
        more = f" (and {len(lacking) - 1} more reviewer(s))" if len(lacking) > 1 else ""
        raise InvalidInput(
            f"reviewer '{name}' shares fewer than {MIN_COMMON_THREADS} threads with any other reviewer ({n}){more}, "
            "so no agreement can be measured for them: check the name in the labels file, or leave them out "
            f"with --exclude-reviewer {name}")
    return excluded


def resolution_text(completeness: Sequence[Completeness]) -> str:
    """What was actually done to reach the final labels, in plain words (never 'resolved' while some
    threads are not)."""
    n = sum(c.n_sampled for c in completeness)
    if not n:
        return "No thread has been sampled yet."
    methods: Counter = Counter()
    reasons: Counter = Counter()
    for c in completeness:
        methods.update(c.by_method)
        reasons.update(c.by_reason)
    decided = sum(methods.values())
    pending = n - decided
    parts = ", ".join(f"{k} {METHOD_WORDS.get(m, m)}" for m, k in methods.most_common())
    text = f"Of the {n:,} sampled threads, {decided:,} have a final label" + (f" ({parts})" if parts else "") + "."
    if pending:
        order = sorted(reasons, key=lambda r: (-reasons[r], PENDING_REASONS.index(r)))
        text += (f" {pending:,} of {n:,} threads await adjudication ({reason_text({r: reasons[r] for r in order})}); "
                 "no final label is reported for them.")
    deciders = [f"a lead ({methods['adjudicated']:,} threads)"] if methods["adjudicated"] else []
    deciders += [f"a third reviewer ({methods['third_reviewer']:,} threads)"] if methods["third_reviewer"] else []
    if deciders and not pending:
        text += " Threads without agreement under the round's rule were decided by " + " and ".join(deciders) + "."
    elif deciders:
        text += " So far, " + " and ".join(deciders) + " decided threads without agreement under the round's rule."
    return text


def agreement_for_rounds(session: Session, round_names: list[str], *, n_boot: int = 1000, seed: int = 0,
                         exclude_reviewers: Iterable[str] = (), interval: str = "bca") -> dict:
    """The agreement report (see annotator.stats.agreement) of these rounds' independent labels (a thread
    in two rounds is two items), each reviewer against the leave-one-out reference, and how complete the
    gold standard is (``completeness``, ``resolution``)."""
    cons = read_consensus(session, round_names)
    excluded = check_reviewers(cons, exclude_reviewers)
    ratings = cons.ratings(exclude_reviewers=excluded)[["item", "reviewer", "category"]]
    first = cons.rounds[0] if cons.rounds else None
    cats = [] if first is None else category_names(session, first.codebook_version_id)
    cats = list(dict.fromkeys(cons.renames.get(c, c) for c in cats))
    report = agreement_report(ratings, categories=cats, n_boot=n_boot, seed=seed, interval=interval)
    completeness = cons.completeness()
    methods: Counter = Counter()
    for c in completeness:
        methods.update(c.by_method)
    report["rounds"] = list(round_names)
    report["excluded_reviewers"] = excluded
    report["completeness"] = [c.as_dict() for c in completeness]
    report["consensus_provenance"] = dict(methods)
    report["consensus_pending"] = cons.n_pending
    report["resolution"] = resolution_text(completeness)
    return report
