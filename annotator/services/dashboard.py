"""Usage dashboard: what staff use the chat tool for, by category, department, role group and week.

Labels. The *effective label* of a thread is its final label from the gold standard
(annotator.services.consensus: decided threads of any round; when a thread is decided in several
rounds the newest round wins) and otherwise the chosen model run's ``ok`` prediction (for a local
run, the out-of-fold prediction on the threads that trained it). Sampled threads still pending count
at the model's label, and the page says how many there are. Category names are mapped through the codebook's renames (merges), so merged
categories are reported under their newest name. The chosen run is an explicit run id, else the
setting ``dashboard_run``, else the newest finished run over all threads, else none (then only
consensus-labelled threads count).

Aggregation happens in SQL, never a row per thread in pandas: one GROUP BY over thread LEFT JOIN
prediction gives the run's *model cube*, thread counts per model category x department x role
group x day (UTC) x frequent-user flag (at most a few hundred thousand cells for any corpus size).
It depends only on the run and the stored rows, so the page caches it keyed on
:func:`data_version`; every filter setting (date range, departments, role groups, frequent users)
is then a pandas filter on the cube. A role filter is not a cube dimension: it rebuilds the cube in
SQL with the role in the WHERE clause. Consensus threads are few (a sample), so their correction
is exact and cheap: for each one the model's cell is decremented and the consensus cell
incremented. Days are cut in UTC (``date_trunc`` on PostgreSQL, ``date()`` on SQLite); weeks start
on Monday.

Figure 1 of the study (horizontal bars per task category, grouped by MedHELM category) is drawn
by :func:`figure1_png`; :func:`export_csv` and :func:`export_html` give the downloads.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlmodel import Session

from annotator.data.models import ModelRun, Prediction, Setting, Thread
from annotator.errors import InvalidInput, NotFound
from annotator.services import audit
from annotator.services.codebook import codebook_renames, get_version, list_categories
from annotator.services.consensus import read_consensus

log = logging.getLogger(__name__)

RUN_SETTING = "dashboard_run"
FREQUENT_MIN_THREADS = 6  # "frequent users": more than five threads, as in the study
UNKNOWN_GROUP = "unknown"
NO_DEPARTMENT = "(none)"
NO_ROLE = "(none)"
NO_ROLE = "(none)"
UNMAPPED = "Unmapped"
CLINICAL_MEDHELM = "Clinical Decision Support"
OTHER_CATEGORY = "Other"
CUBE_DIMS = ("department", "role_group", "role", "soc_group", "day", "frequent")
_CHUNK = 5000


# --------------------------------------------------------------------------- #
# Filters and label basis
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Filters:
    """Which threads the dashboard counts. Empty tuples mean "all"; dates are inclusive, in UTC.

    ``role_groups`` takes ``"clinician"``, ``"non-clinician"`` and ``"unknown"`` (no role).
    ``frequent_only`` keeps threads of users with at least ``FREQUENT_MIN_THREADS`` threads in the
    whole corpus.
    """

    start: date | None = None
    end: date | None = None
    departments: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    role_groups: tuple[str, ...] = ()
    frequent_only: bool = False
    soc_groups: tuple[str, ...] = ()  # 2018 SOC major group codes ("43-0000"); "unknown" for none

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise InvalidInput(f"the date range starts ({self.start}) after it ends ({self.end})")
        for name in ("departments", "roles", "role_groups", "soc_groups"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name) or ()))))

    def describe(self) -> str:
        """The filter in a few words, for captions and exports."""
        parts = []
        if self.start or self.end:
            parts.append(f"{self.start or 'first thread'} to {self.end or 'last thread'}")
        for label, values in (("departments", self.departments), ("roles", self.roles),
                              ("role groups", self.role_groups), ("SOC groups", self.soc_groups)):
            if values:
                parts.append(f"{label}: {', '.join(values)}")
        if self.frequent_only:
            parts.append(f"frequent users only (>= {FREQUENT_MIN_THREADS} threads)")
        return "; ".join(parts) or "all threads"


@dataclass(frozen=True)
class LabelBasis:
    """Where the effective labels come from: consensus labels by thread row id, and a model run."""

    run_id: int | None
    consensus: dict[int, str]
    renames: dict[str, str] = field(default_factory=dict)
    n_pending: int = 0  # sampled threads (of any round) still without a final label

    def rename(self, category: str) -> str:
        return self.renames.get(category, category)


def consensus_labels(session: Session) -> dict[int, str]:
    """Final label per thread row id over every round (newest round wins), under today's names."""
    return read_consensus(session).latest_labels()


def default_run_id(session: Session) -> int | None:
    """The run the dashboard uses: setting ``dashboard_run`` if it names a run, else the newest
    finished run with scope "all", else None."""
    row = session.get(Setting, RUN_SETTING)
    if row is not None and row.value.strip().isdigit() and session.get(ModelRun, int(row.value)) is not None:
        return int(row.value)
    return session.execute(select(ModelRun.id).where(ModelRun.scope == "all", ModelRun.status == "done")
                           .order_by(ModelRun.id.desc()).limit(1)).scalar()


def set_dashboard_run(session: Session, *, run_id: int | None, actor: str) -> None:
    """Store the run the dashboard uses (None: back to the newest run over all threads)."""
    if run_id is not None and session.get(ModelRun, run_id) is None:
        raise NotFound(f"no model run {run_id}")
    row = session.get(Setting, RUN_SETTING) or Setting(key=RUN_SETTING)
    row.value = "" if run_id is None else str(run_id)
    session.add(row)
    audit.record(session, actor=actor, action="dashboard_run", entity="setting", entity_id=RUN_SETTING,
                 detail={"run_id": run_id})
    session.commit()


def label_basis(session: Session, *, run_id: int | None) -> LabelBasis:
    """Consensus labels plus the given run (which must exist when not None)."""
    if run_id is not None and session.get(ModelRun, run_id) is None:
        raise NotFound(f"no model run {run_id}")
    consensus = read_consensus(session)
    pending = {r.thread_id for r in consensus.pending()} - set(consensus.latest())
    return LabelBasis(run_id, consensus.latest_labels(), dict(consensus.renames), len(pending))


# --------------------------------------------------------------------------- #
# SQL building blocks
# --------------------------------------------------------------------------- #
def period_expr(dialect: str, period: str = "W") -> ColumnElement:
    """ISO date ('YYYY-MM-DD') of the start of the day, Monday-week or month of ``thread.created_at`` in UTC."""
    if period not in ("D", "W", "M"):
        raise ValueError(f"period must be D, W or M, got {period!r}")
    col = Thread.created_at
    if dialect == "postgresql":
        unit = {"D": "'day'", "W": "'week'", "M": "'month'"}[period]
        utc = func.timezone(literal_column("'UTC'"), col)
        return func.to_char(func.date_trunc(literal_column(unit), utc), literal_column("'YYYY-MM-DD'"))
    modifiers = {"D": (), "W": ("'weekday 0'", "'-6 days'"), "M": ("'start of month'",)}[period]
    return func.date(col, *(literal_column(m) for m in modifiers))


def _frequent_users():
    return (select(Thread.user_id).where(Thread.user_id.is_not(None)).group_by(Thread.user_id)
            .having(func.count() >= FREQUENT_MIN_THREADS))


def _dimensions(dialect: str) -> list[ColumnElement]:
    """SQL expressions of ``CUBE_DIMS``, in order."""
    return [func.coalesce(Thread.department, NO_DEPARTMENT), func.coalesce(Thread.role_group, UNKNOWN_GROUP),
            func.coalesce(Thread.role, NO_ROLE), func.coalesce(Thread.soc_group, UNKNOWN_GROUP), period_expr(dialect, "D"), case((Thread.user_id.in_(_frequent_users()), 1), else_=0)]


def _utc_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=timezone.utc)


def filter_clauses(filters: Filters) -> list[ColumnElement]:
    """WHERE clauses on ``thread`` for the filters."""
    out: list[ColumnElement] = []
    if filters.start:
        out.append(Thread.created_at >= _utc_midnight(filters.start))
    if filters.end:
        out.append(Thread.created_at < _utc_midnight(filters.end + timedelta(days=1)))
    if filters.departments:
        out.append(Thread.department.in_(filters.departments))
    if filters.roles:
        out.append(Thread.role.in_(filters.roles))
    if filters.role_groups:
        known = [g for g in filters.role_groups if g != UNKNOWN_GROUP]
        parts = [Thread.role_group.in_(known)] if known else []
        if UNKNOWN_GROUP in filters.role_groups:
            parts.append(Thread.role_group.is_(None))
        out.append(or_(*parts))
    if filters.soc_groups:
        known = [g for g in filters.soc_groups if g != UNKNOWN_GROUP]
        parts = [Thread.soc_group.in_(known)] if known else []
        if UNKNOWN_GROUP in filters.soc_groups:
            parts.append(Thread.soc_group.is_(None))
        out.append(or_(*parts))
    if filters.frequent_only:
        out.append(Thread.user_id.in_(_frequent_users()))
    return out


def model_cube(session: Session, run_id: int | None) -> pd.DataFrame:
    """Threads per (``CUBE_DIMS``, model category) for a run, in one GROUP BY over thread LEFT JOIN prediction.

    ``category`` is None for threads without an ``ok`` prediction of the run (or when ``run_id`` is
    None), so the cube also counts the whole population. Raw category names (not renamed). This is
    the expensive query (one pass over the corpus); it depends only on the run and the stored rows,
    so callers cache it (see :func:`data_version`, :func:`stored_cube`) and filter it with
    :func:`filter_cube`: every dashboard filter, role included, is a cube dimension.
    """
    dims = _dimensions(session.get_bind().dialect.name)
    if run_id is None:
        stmt = select(*dims, literal_column("NULL"), func.count()).select_from(Thread)
    else:
        stmt = (select(*dims, Prediction.category, func.count()).select_from(Thread)
                .outerjoin(Prediction, and_(Prediction.thread_id == Thread.id, Prediction.run_id == run_id,
                                            Prediction.status == "ok")))
    stmt = stmt.group_by(*(literal_column(str(i + 1)) for i in range(len(dims) + 1)))
    rows = session.execute(stmt).all()
    cube = pd.DataFrame(rows, columns=[*CUBE_DIMS, "category", "n"])
    cube["frequent"] = cube["frequent"].astype("int64")
    cube["n"] = cube["n"].astype("int64")
    return cube


def data_version(session: Session, run_id: int | None) -> tuple:
    """A cheap fingerprint of what :func:`model_cube` reads (changes when threads or the run's
    predictions are added or the run finishes), to key caches on."""
    threads = session.execute(select(func.count(), func.max(Thread.id)).select_from(Thread)).one()
    revision = session.get(Setting, "threads_revision")  # bumped when roster/role mapping/--update change threads
    threads = (*threads, revision.value if revision is not None else "")
    run = None
    if run_id is not None:
        last = session.execute(select(func.max(Prediction.id)).where(Prediction.run_id == run_id)).scalar()
        finished = session.execute(select(ModelRun.status, ModelRun.finished_at).where(ModelRun.id == run_id)).one_or_none()
        run = (run_id, last, *(finished or ()))
    return (*threads, run)


def stored_cube(session: Session, run_id: int | None) -> pd.DataFrame:
    """The run's cube from the stored aggregate when the data have not changed since it was built,
    else computed once (one pass over the corpus) and stored. Classification runs store it when they
    finish, so the dashboard's first view after a run does not pay for the pass."""
    import io

    from annotator.data.locks import advisory_lock
    from annotator.data.models import AggregateCache

    key = f"dashboard_cube:{run_id}"
    version = repr(data_version(session, run_id))
    row = session.get(AggregateCache, key)
    if row is not None and row.version == version:
        return pd.read_parquet(io.BytesIO(row.payload))
    with advisory_lock(session.get_bind(), f"aggregate|{key}"):  # several app processes: one rebuilds, the rest wait
        version = repr(data_version(session, run_id))
        row = session.get(AggregateCache, key, populate_existing=True)
        if row is not None and row.version == version:  # another process rebuilt it while this one waited
            return pd.read_parquet(io.BytesIO(row.payload))
        return _rebuild_cube(session, run_id, key, version, row)


def _rebuild_cube(session: Session, run_id: int | None, key: str, version: str, row) -> pd.DataFrame:
    import io

    from annotator.data.models import AggregateCache

    log.info("rebuilding the stored aggregate %s", key)
    cube = model_cube(session, run_id)
    buf = io.BytesIO()
    cube.to_parquet(buf, index=False)
    row = row or AggregateCache(key=key, version=version, payload=b"")
    row.version, row.payload = version, buf.getvalue()
    session.add(row)
    session.commit()
    return cube


def filter_cube(cube: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The cube rows inside the filters."""
    keep = pd.Series(True, index=cube.index)
    if filters.start or filters.end:
        day = cube["day"]
        keep &= day.notna()
        if filters.start:
            keep &= day >= filters.start.isoformat()
        if filters.end:
            keep &= day <= filters.end.isoformat()
    if filters.departments:
        keep &= cube["department"].isin(filters.departments)
    if filters.role_groups:
        keep &= cube["role_group"].isin(filters.role_groups)
    if filters.roles:
        keep &= cube["role"].isin(filters.roles)
    if filters.soc_groups:
        keep &= cube["soc_group"].isin(filters.soc_groups)
    if filters.frequent_only:
        keep &= cube["frequent"] == 1
    return cube[keep]


def _frequent_flags(session: Session, user_ids: set[str]) -> set[str]:
    """Which of these users have at least ``FREQUENT_MIN_THREADS`` threads (index lookups only)."""
    frequent: set[str] = set()
    users = sorted(user_ids)
    for start in range(0, len(users), _CHUNK):
        chunk = users[start:start + _CHUNK]
        frequent.update(u for (u,) in session.execute(
            select(Thread.user_id).where(Thread.user_id.in_(chunk)).group_by(Thread.user_id)
            .having(func.count() >= FREQUENT_MIN_THREADS)).all())
    return frequent


def _consensus_delta(session: Session, basis: LabelBasis, filters: Filters) -> pd.DataFrame:
    """Per consensus thread in the filter: -1 at its model cell (category None if no ok prediction),
    +1 at its consensus cell. Columns ``CUBE_DIMS, category, n_model, n_consensus``."""
    dims = _dimensions(session.get_bind().dialect.name)[:5]  # the frequent flag is computed below
    where = filter_clauses(replace(filters, frequent_only=False))
    rows = []
    ids = sorted(basis.consensus)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        if basis.run_id is not None:
            stmt = (select(Thread.id, Thread.user_id, *dims, Prediction.category).select_from(Thread)
                    .outerjoin(Prediction, and_(Prediction.thread_id == Thread.id, Prediction.run_id == basis.run_id,
                                                Prediction.status == "ok")))
        else:
            stmt = select(Thread.id, Thread.user_id, *dims, literal_column("NULL"))
        rows.extend(session.execute(stmt.where(Thread.id.in_(chunk), *where)).all())
    frequent = _frequent_flags(session, {r[1] for r in rows if r[1] is not None})
    delta: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for tid, user, department, group, role, soc, day, model in rows:
        flag = int(user in frequent)
        if filters.frequent_only and not flag:
            continue
        delta[(department, group, role, soc, day, flag, model)][0] -= 1
        delta[(department, group, role, soc, day, flag, basis.consensus[tid])][1] += 1
    return pd.DataFrame([(*k, m, c) for k, (m, c) in delta.items()],
                        columns=[*CUBE_DIMS, "category", "n_model", "n_consensus"])


def effective_cube(session: Session, basis: LabelBasis, filters: Filters, cube: pd.DataFrame | None = None) -> pd.DataFrame:
    """Threads per (``CUBE_DIMS``, effective category) inside the filters, consensus corrected, renamed.

    Columns ``CUBE_DIMS, category, n, n_consensus, n_model``; ``category`` None counts threads
    with no label at all. ``cube`` is a cached :func:`model_cube` of ``basis.run_id`` (built here if None).
    """
    if cube is None:
        cube = model_cube(session, basis.run_id)
    base = filter_cube(cube, filters).rename(columns={"n": "n_model"}).assign(n_consensus=0)
    both = pd.concat([base, _consensus_delta(session, basis, filters)], ignore_index=True)
    names = both["category"].dropna().unique()
    both["category"] = both["category"].map({c: basis.rename(c) for c in names})
    keys = [*CUBE_DIMS, "category"]
    out = both.groupby(keys, dropna=False, sort=False)[["n_model", "n_consensus"]].sum().reset_index()
    out["n_model"] = out["n_model"].astype("int64")
    out["n_consensus"] = out["n_consensus"].astype("int64")
    out["n"] = out["n_model"] + out["n_consensus"]
    return out.loc[out["n"] > 0, [*keys, "n", "n_consensus", "n_model"]].reset_index(drop=True)


def period_of(day: pd.Series, period: str) -> pd.Series:
    """ISO start date of the Monday-week ('W'), month ('M') or day ('D') of ISO day strings (None stays None)."""
    uniques = pd.Series(day.dropna().unique())
    stamps = pd.to_datetime(uniques)
    if period == "W":
        starts = stamps - pd.to_timedelta(stamps.dt.day_of_week, unit="D")
    elif period == "M":
        starts = stamps - pd.to_timedelta(stamps.dt.day - 1, unit="D")
    else:
        starts = stamps
    return day.map(dict(zip(uniques, starts.dt.strftime("%Y-%m-%d"))))


# --------------------------------------------------------------------------- #
# Aggregates
# --------------------------------------------------------------------------- #
def codebook_frame(session: Session, renames: dict[str, str] | None = None) -> pd.DataFrame:
    """The newest codebook's categories (renamed, deduplicated) with MedHELM category and subcategory."""
    version = get_version(session)
    renames = codebook_renames(session) if renames is None else renames
    rows: dict[str, tuple] = {}
    if version is not None:
        for cat in list_categories(session, version.id, active_only=False):
            name = renames.get(cat.name, cat.name)
            if name not in rows:
                rows[name] = (name, cat.medhelm_category or UNMAPPED, cat.medhelm_subcategory or "", cat.position)
    return pd.DataFrame(list(rows.values()), columns=["category", "medhelm_category", "medhelm_subcategory", "position"])


def distribution_from(cube: pd.DataFrame, codebook: pd.DataFrame) -> pd.DataFrame:
    """Category distribution from an :func:`effective_cube` (unlabelled rows are ignored)."""
    by_cat = cube[cube["category"].notna()].groupby("category")[["n", "n_consensus", "n_model"]].sum()
    dist = codebook.drop(columns="position").merge(by_cat, left_on="category", right_index=True, how="outer")
    missing = dist["medhelm_category"].isna()
    dist.loc[missing, "medhelm_category"] = UNMAPPED
    dist.loc[missing, "medhelm_subcategory"] = ""
    for col in ("n", "n_consensus", "n_model"):
        dist[col] = dist[col].fillna(0).astype("int64")
    order = {c: i for i, c in enumerate(codebook["category"])}
    dist["_order"] = dist["category"].map(lambda c: order.get(c, len(order)))
    dist = dist.sort_values(["_order", "category"], kind="stable").drop(columns="_order").reset_index(drop=True)
    total = int(dist["n"].sum())
    dist["share"] = dist["n"] / total if total else None
    return dist[["category", "medhelm_category", "medhelm_subcategory", "n", "share", "n_consensus", "n_model"]]


def category_distribution(session: Session, *, run_id: int | None, filters: Filters | None = None,
                          basis: LabelBasis | None = None) -> pd.DataFrame:
    """Threads per effective category: ``category, medhelm_category, medhelm_subcategory, n, share,
    n_consensus, n_model`` in codebook order (share is None when no thread is labelled)."""
    basis = basis or label_basis(session, run_id=run_id)
    cube = effective_cube(session, basis, filters or Filters())
    return distribution_from(cube, codebook_frame(session, basis.renames))


def breakdown(cube: pd.DataFrame, by: str) -> pd.DataFrame:
    """Long table ``by, category, n, share`` (share within the ``by`` group) from a cube."""
    long = cube.groupby([by, "category"], dropna=False)["n"].sum().reset_index()
    totals = long.groupby(by, dropna=False)["n"].transform("sum")
    long["share"] = long["n"] / totals
    return long.sort_values([by, "category"], kind="stable").reset_index(drop=True)


def pivot_shares(long: pd.DataFrame, by: str, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Wide table: one row per group, ``n`` (threads) then one share column per category."""
    wide = long.pivot_table(index=by, columns="category", values="share", aggfunc="sum", fill_value=0.0)
    if categories is not None:
        wide = wide.reindex(columns=[c for c in categories if c in wide.columns])
    wide.insert(0, "n", long.groupby(by)["n"].sum())
    wide.columns.name = None
    return wide


def frequent_vs_all(cube: pd.DataFrame) -> pd.DataFrame:
    """``category, n_all, share_all, n_frequent, share_frequent`` (frequent: >= 6 threads per user)."""
    every = cube.groupby("category")["n"].sum()
    freq = cube[cube["frequent"] == 1].groupby("category")["n"].sum().reindex(every.index, fill_value=0)
    out = pd.DataFrame({"n_all": every, "n_frequent": freq})
    out["share_all"] = out["n_all"] / every.sum() if every.sum() else None
    out["share_frequent"] = out["n_frequent"] / freq.sum() if freq.sum() else None
    return out.reset_index()[["category", "n_all", "share_all", "n_frequent", "share_frequent"]]


def share_result(numerator: int, denominator: int, categories: list[str], *, what: str,
                 reason_if_empty: str) -> dict[str, Any]:
    """``{"value", "numerator", "denominator", "categories", "what", "reason"}``; value None with a reason."""
    reason = None
    if not categories:
        reason = reason_if_empty
    elif denominator == 0:
        reason = f"no labelled threads in the population ({what})"
    return {"value": None if reason else numerator / denominator, "numerator": int(numerator),
            "denominator": int(denominator), "categories": categories, "what": what, "reason": reason}


def offtopic_share(cube: pd.DataFrame, codebook: pd.DataFrame) -> dict[str, Any]:
    """Share of threads labelled with the codebook's Other category (non-work, personal, off-topic)."""
    cats = [c for c in codebook["category"] if c.casefold() == OTHER_CATEGORY.casefold()]
    num = int(cube.loc[cube["category"].isin(cats), "n"].sum())
    return share_result(num, int(cube["n"].sum()), cats, what="all labelled threads",
                        reason_if_empty="the codebook has no 'Other' category")


def clinical_from_nonclinical(cube: pd.DataFrame, codebook: pd.DataFrame) -> dict[str, Any]:
    """Share of clinical-knowledge questions (codebook categories mapped to MedHELM 'Clinical Decision
    Support', e.g. Answer Medical Knowledge Questions) among threads from non-clinician roles."""
    cats = list(codebook.loc[codebook["medhelm_category"] == CLINICAL_MEDHELM, "category"])
    nonclin = cube[cube["role_group"] == "non-clinician"]
    num = int(nonclin.loc[nonclin["category"].isin(cats), "n"].sum())
    return share_result(num, int(nonclin["n"].sum()), cats, what="threads from non-clinician roles",
                        reason_if_empty=f"no codebook category is mapped to MedHELM '{CLINICAL_MEDHELM}'")


@dataclass
class Dashboard:
    """Everything the dashboard page shows for one filter setting and run (plain, picklable data)."""

    run_id: int | None
    run_name: str
    filters: Filters
    n_threads: int
    n_consensus: int
    n_model: int
    n_pending: int
    distribution: pd.DataFrame
    by_department: pd.DataFrame
    by_role_group: pd.DataFrame
    by_soc_group: pd.DataFrame
    by_week: pd.DataFrame
    frequent_vs_all: pd.DataFrame
    offtopic: dict[str, Any]
    clinical_from_nonclinical: dict[str, Any]
    categories: list[str]

    @property
    def n_unlabeled(self) -> int:
        return self.n_threads - self.n_consensus - self.n_model

    def labels_text(self) -> str:
        """Which labels are counted, in one sentence."""
        model = f"model run #{self.run_id} ({self.run_name}) for {self.n_model}" if self.run_id is not None \
            else "no model run chosen"
        text = f"Labels: consensus for {self.n_consensus} threads, {model}"
        if self.n_pending:
            text += (f"; {self.n_pending} sampled thread(s) still await a final label and count at the model's "
                     "label meanwhile")
        if self.n_unlabeled:
            text += f"; {self.n_unlabeled} threads in the filter have neither and are not counted"
        return text + "."


def build_dashboard(session: Session, *, run_id: int | None, filters: Filters | None = None,
                    cube: pd.DataFrame | None = None) -> Dashboard:
    """All dashboard aggregates for one filter setting.

    ``cube`` is a cached :func:`model_cube` of ``run_id`` (the one expensive query); without it the
    cube is built here. The rest is a few small queries (consensus labels) and pandas on the cube.
    """
    filters = filters or Filters()
    basis = label_basis(session, run_id=run_id)
    codebook = codebook_frame(session, basis.renames)
    eff = effective_cube(session, basis, filters, cube)
    labelled = eff[eff["category"].notna()].assign(week=lambda f: period_of(f["day"], "W").fillna("(no date)"))
    labelled = labelled.groupby(["department", "role_group", "soc_group", "week", "frequent", "category"], sort=False)[
        ["n", "n_consensus", "n_model"]].sum().reset_index()  # days -> weeks: a smaller frame for the breakdowns
    run = session.get(ModelRun, run_id) if run_id is not None else None
    dist = distribution_from(labelled, codebook)
    return Dashboard(
        run_id=run_id, run_name=f"{run.backend}:{run.model}" if run else "", filters=filters,
        n_threads=int(eff["n"].sum()), n_consensus=int(labelled["n_consensus"].sum()),
        n_model=int(labelled["n_model"].sum()), n_pending=basis.n_pending, distribution=dist, by_department=breakdown(labelled, "department"),
        by_role_group=breakdown(labelled, "role_group"), by_soc_group=breakdown(labelled, "soc_group"),
        by_week=breakdown(labelled, "week"),
        frequent_vs_all=frequent_vs_all(labelled), offtopic=offtopic_share(labelled, codebook),
        clinical_from_nonclinical=clinical_from_nonclinical(labelled, codebook), categories=list(dist["category"]),
    )


def filter_options(session: Session, cube: pd.DataFrame | None = None) -> dict[str, Any]:
    """Values for the filter widgets: departments, roles, role groups, first and last thread date (UTC).

    With a cached :func:`model_cube`, everything comes from it; otherwise from SQL.
    """
    groups = ["clinician", "non-clinician", UNKNOWN_GROUP]
    if cube is not None:
        days = cube["day"].dropna()
        departments = sorted(d for d in cube["department"].unique() if d != NO_DEPARTMENT)
        roles = sorted(r for r in cube["role"].unique() if r != NO_ROLE)
        first, last = (date.fromisoformat(days.min()), date.fromisoformat(days.max())) if len(days) else (None, None)
        socs = sorted(cube["soc_group"].unique(), key=lambda c: (c == UNKNOWN_GROUP, c))
        return {"departments": departments, "roles": roles, "role_groups": groups, "soc_groups": socs, "first": first,
                "last": last}
    roles = [r for (r,) in session.execute(select(Thread.role).where(Thread.role.is_not(None)).distinct()
                                           .order_by(Thread.role)).all()]
    departments = [d for (d,) in session.execute(select(Thread.department).where(Thread.department.is_not(None))
                                                 .distinct().order_by(Thread.department)).all()]
    first = session.execute(select(func.min(Thread.created_at))).scalar()  # two queries: each is one index probe
    last = session.execute(select(func.max(Thread.created_at))).scalar()
    as_date = lambda v: None if v is None else pd.Timestamp(v).date()  # noqa: E731
    socs = sorted({s or UNKNOWN_GROUP for (s,) in session.execute(select(Thread.soc_group).distinct()).all()},
                  key=lambda c: (c == UNKNOWN_GROUP, c))
    return {"departments": departments, "roles": roles, "role_groups": groups, "soc_groups": socs, "first": as_date(first),
            "last": as_date(last)}


# --------------------------------------------------------------------------- #
# Exports
# --------------------------------------------------------------------------- #
def figure1_png(dist: pd.DataFrame, *, title: str = "Chat tool usage by task category") -> bytes:
    """Figure 1 of the study: horizontal bars (% of threads) per task category, grouped by MedHELM
    category (groups by total share, bars by share within a group), with the MedHELM category and
    subcategory in boxes on the left joined to their bar by a line. PNG bytes (matplotlib Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    data = dist.assign(pct=100 * dist["n"] / max(int(dist["n"].sum()), 1))
    groups = data.groupby("medhelm_category")["pct"].sum()
    group_order = sorted(groups.index, key=lambda g: (g == UNMAPPED, -groups[g], g))
    ordered = pd.concat([data[data["medhelm_category"] == g].sort_values(["pct", "category"], ascending=[False, True])
                         for g in group_order]) if len(data) else data
    n = len(ordered)
    fig = Figure(figsize=(12, 0.42 * n + 1.4), dpi=110)
    FigureCanvasAgg(fig)
    left = fig.add_axes((0.01, 0.1, 0.44, 0.8))
    ax = fig.add_axes((0.64, 0.1, 0.33, 0.8), sharey=left)
    ys = list(range(n))[::-1]
    ax.barh(ys, ordered["pct"], color="#2f6b9a", height=0.65)
    top = max(float(ordered["pct"].max()) if n else 0.0, 1.0)
    for y, pct in zip(ys, ordered["pct"]):
        ax.text(pct + top * 0.01, y, f"{pct:.1f}%", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15)
    ax.set_yticks(ys, labels=list(ordered["category"]), fontsize=9)
    ax.set_xlabel("Distribution of threads [%]")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(-0.7, n - 0.3)
    left.set_xlim(0, 1)
    left.axis("off")
    palette = ["#dbe8f4", "#f4e6d4", "#dff0dc", "#efe0f2", "#f0f0f0"]
    row = 0
    for gi, group in enumerate(group_order):
        members = ordered[ordered["medhelm_category"] == group]
        y_top, y_bottom = ys[row], ys[row + len(members) - 1]
        color = palette[gi % len(palette)] if group != UNMAPPED else "#eeeeee"
        left.add_patch(FancyBboxPatch((0.0, y_bottom - 0.35), 0.33, y_top - y_bottom + 0.7,
                                      boxstyle="round,pad=0.0,rounding_size=0.1", fc=color, ec="#888"))
        left.text(0.165, (y_top + y_bottom) / 2, group, ha="center", va="center", fontsize=8.5, wrap=True,
                  fontweight="bold")
        for k, sub in enumerate(members["medhelm_subcategory"]):
            y = ys[row + k]
            left.add_patch(FancyBboxPatch((0.38, y - 0.3), 0.5, 0.6, boxstyle="round,pad=0.0,rounding_size=0.1",
                                          fc=color, ec="#aaa"))
            left.text(0.63, y, sub or "—", ha="center", va="center", fontsize=7.5)
            left.plot([0.33, 0.38], [y, y], color="#888", lw=0.8)
            left.plot([0.88, 1.0], [y, y], color="#888", lw=0.8)
        row += len(members)
    fig.suptitle(title, fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def export_csv(dash: Dashboard) -> bytes:
    """Every aggregate in one tidy CSV: ``table, group, category, n, share`` (no thread text)."""
    frames = [dash.distribution.assign(table="distribution", group="all")[["table", "group", "category", "n", "share"]]]
    for table, frame, by in (("by_department", dash.by_department, "department"),
                             ("by_role_group", dash.by_role_group, "role_group"),
                             ("by_soc_group", dash.by_soc_group, "soc_group"), ("by_week", dash.by_week, "week")):
        frames.append(frame.rename(columns={by: "group"}).assign(table=table)[["table", "group", "category", "n", "share"]])
    fv = dash.frequent_vs_all
    frames.append(fv.assign(table="frequent_users", group="frequent")
                  .rename(columns={"n_frequent": "n", "share_frequent": "share"})[["table", "group", "category", "n", "share"]])
    out = pd.concat(frames, ignore_index=True)
    from annotator.spreadsheet import csv_bytes  # spreadsheet-safe cells: a department named "=..." is no formula

    return csv_bytes(out)


def _pct(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def export_html(dash: Dashboard, *, title: str = "Chat tool usage") -> str:
    """A self-contained HTML page: Figure 1 (embedded PNG), the distribution and breakdown tables."""
    e = html.escape
    png = base64.b64encode(figure1_png(dash.distribution, title=title)).decode("ascii")

    def table(frame: pd.DataFrame, pct_cols: Sequence[str]) -> str:
        head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
        body = "".join("<tr>" + "".join(
            f"<td>{e(_pct(v) if c in pct_cols else str(v))}</td>" for c, v in row.items()) + "</tr>"
            for _, row in frame.iterrows())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def share_line(label: str, res: dict[str, Any]) -> str:
        value = _pct(res["value"]) if res["value"] is not None else f"undefined ({res['reason']})"
        return f"<li>{e(label)}: {e(value)} ({res['numerator']} of {res['denominator']} {e(res['what'])})</li>"

    sections = []
    for label, frame, by in (("By department", dash.by_department, "department"),
                             ("By role group", dash.by_role_group, "role_group"),
                             ("By SOC major group", dash.by_soc_group, "soc_group"), ("By week", dash.by_week, "week")):
        wide = pivot_shares(frame, by, dash.categories).reset_index() if len(frame) else frame
        sections.append(f"<h2>{e(label)}</h2>" + table(wide, [c for c in wide.columns if c not in (by, "n")]))
    dist = dash.distribution
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title><style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}"
        "table{border-collapse:collapse;margin:1rem 0;font-size:0.85rem}th,td{border:1px solid #ccc;"
        "padding:0.2rem 0.5rem}th{background:#f3f3f3}img{max-width:100%}</style></head><body>"
        f"<h1>{e(title)}</h1><p>{e(dash.labels_text())} Filter: {e(dash.filters.describe())}.</p>"
        f"<img alt=\"Share of threads per task category, grouped by MedHELM category\" src=\"data:image/png;base64,{png}\">"
        "<ul>" + share_line("Off-topic (Other)", dash.offtopic)
        + share_line("Clinical knowledge questions from non-clinicians", dash.clinical_from_nonclinical) + "</ul>"
        "<h2>Distribution</h2>" + table(dist, ["share"])
        + "<h2>Frequent users vs all</h2>" + table(dash.frequent_vs_all, ["share_all", "share_frequent"])
        + "".join(sections) + "</body></html>\n"
    )
