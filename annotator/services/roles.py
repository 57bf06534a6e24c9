"""Staff roster and role mapping: who a user id is (job title, department, over dates), and what a job
title means (role group clinician / non-clinician, 2018 SOC major group).

One read model: the effective groups of a title are its :class:`RoleMapping` row when an admin
made one, else the suggestion of :mod:`annotator.roles` (the study's clinician definition; a SOC
group from the title's words). Threads carry the effective values (``role_group``, ``soc_group``),
rewritten in the same transaction whenever a mapping row, the roster or a thread's role changes,
so the dashboard, its filters, alerts and sampling all read the table's decisions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from annotator.data.models import RoleMapping, RosterEntry, Setting, Thread, utcnow
from annotator.errors import InvalidInput, RowErrors
from annotator.importing import Problem, _as_text, _printable
from annotator.importing.sources import (MAX_SMALL_FILE_BYTES, SourceInfo, check_small_file, detect_format,
                                         iter_raw)
from annotator.roles import (ROLE_GROUPS, SOC_MAJOR_GROUPS, parse_role_group, parse_soc, role_group, soc_label,
                             suggest_soc, title_key)
from annotator.services import audit

log = logging.getLogger(__name__)
REVISION_SETTING = "threads_revision"  # bumped when thread metadata change in place (dashboard caches key on it)
MAPPING_COLUMNS = ("title", "role_group", "soc_group", "soc_title", "threads", "mapped")
ROSTER_FIELDS = ("user_id", "job_title", "department", "start_date", "end_date")
_CHUNK = 2000


# --------------------------------------------------------------------------- #
# Effective groups of a title
# --------------------------------------------------------------------------- #
@dataclass
class RoleLookup:
    """Title key -> (role group, SOC group) decided by an admin; anything else gets the suggestion."""

    decided: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    _cache: dict[str | None, tuple[str | None, str | None]] = field(default_factory=dict)

    def groups(self, title: str | None) -> tuple[str | None, str | None]:
        hit = self._cache.get(title)
        if hit is None:
            key = title_key(title)
            if not key:
                hit = (None, None)
            else:
                hit = self.decided.get(key) or (role_group(title), suggest_soc(title))
            self._cache[title] = hit
        return hit


def load_lookup(conn: Connection | Session) -> RoleLookup:
    rows = conn.execute(select(RoleMapping.title_key, RoleMapping.role_group, RoleMapping.soc_group)).all()
    return RoleLookup({k: (g, s) for k, g, s in rows})


def bump_revision(conn: Connection | Session) -> None:
    """Tell caches keyed on the threads' data (the dashboard cube) that thread metadata changed in place."""
    row = conn.execute(select(Setting.value).where(Setting.key == REVISION_SETTING)).scalar()
    value = str(int(row) + 1) if row and row.isdigit() else "1"
    if row is None:
        conn.execute(Setting.__table__.insert().values(key=REVISION_SETTING, value=value))
    else:
        conn.execute(update(Setting.__table__).where(Setting.__table__.c.key == REVISION_SETTING).values(value=value))


def refresh_thread_groups(conn: Connection | Session, keys: set[str] | None = None) -> int:
    """Rewrite ``role_group`` / ``soc_group`` of threads whose title key is in `keys` (all when None)."""
    lookup = load_lookup(conn)
    titles = [t for (t,) in conn.execute(select(Thread.role).where(Thread.role.is_not(None)).distinct()).all()]
    changed = 0
    t = Thread.__table__.c
    stmt = (update(Thread.__table__).where(t.role == bindparam("r_title"))
            .where((func.coalesce(t.role_group, "") != func.coalesce(bindparam("r_group"), ""))
                   | (func.coalesce(t.soc_group, "") != func.coalesce(bindparam("r_soc"), "")))
            .values(role_group=bindparam("r_group"), soc_group=bindparam("r_soc")))
    params = []
    for t in titles:
        if keys is not None and title_key(t) not in keys:
            continue
        g, s = lookup.groups(t)
        params.append({"r_title": t, "r_group": g, "r_soc": s})
    for start in range(0, len(params), _CHUNK):
        res = conn.execute(stmt, params[start:start + _CHUNK])
        changed += max(res.rowcount or 0, 0)
    if params:
        bump_revision(conn)
    return changed


# --------------------------------------------------------------------------- #
# The mapping table
# --------------------------------------------------------------------------- #
def role_titles(session: Session) -> pd.DataFrame:
    """Every job title seen in threads or the roster with its mapping: unmapped titles first, then by
    number of threads. Columns: title, threads, staff, role_group, soc_group, mapped,
    suggested_role_group, suggested_soc_group."""
    counts: dict[str, list] = {}
    for title, n in session.execute(select(Thread.role, func.count()).where(Thread.role.is_not(None))
                                    .group_by(Thread.role)).all():
        key = title_key(title)
        if key:
            entry = counts.setdefault(key, [title, 0, 0])
            entry[1] += int(n)
    for title, n in session.execute(select(RosterEntry.job_title, func.count(func.distinct(RosterEntry.user_id)))
                                    .where(RosterEntry.job_title.is_not(None)).group_by(RosterEntry.job_title)).all():
        key = title_key(title)
        if key:
            entry = counts.setdefault(key, [title, 0, 0])
            entry[2] += int(n)
    decided = {m.title_key: m for m in session.execute(select(RoleMapping)).scalars()}
    for key, m in decided.items():
        counts.setdefault(key, [m.title, 0, 0])
    rows = []
    for key, (title, n_threads, n_staff) in counts.items():
        m = decided.get(key)
        sg, ss = role_group(title), suggest_soc(title)
        rows.append({"title": m.title if m else title, "threads": n_threads, "staff": n_staff,
                     "role_group": m.role_group if m else sg, "soc_group": m.soc_group if m else ss,
                     "mapped": m is not None, "suggested_role_group": sg, "suggested_soc_group": ss})
    frame = pd.DataFrame(rows, columns=["title", "threads", "staff", "role_group", "soc_group", "mapped",
                                        "suggested_role_group", "suggested_soc_group"])
    return frame.sort_values(["mapped", "threads", "title"], ascending=[True, False, True], kind="stable") \
        .reset_index(drop=True)


def _clean_title(title: str) -> str:
    return " ".join(str(title).split())


def save_role_mappings(session: Session, rows: list[dict], *, actor: str, source: str = "app") -> int:
    """Store the admin's decisions (title, role_group, soc_group) and rewrite the threads' groups; commits.

    Values are validated first (unknown role group or SOC code: nothing is stored). Returns how many
    mapping rows were added or changed."""
    problems: list[tuple[int, str | None, str]] = []
    clean: dict[str, tuple[str, str | None, str | None, int]] = {}
    for i, r in enumerate(rows, start=1):
        title = _clean_title(r.get("title") or "")
        key = title_key(title)
        if not key:
            problems.append((i, "title", "empty job title"))
            continue
        if len(title) > 200 or "\x00" in title:
            problems.append((i, "title", "longer than 200 characters or contains a NUL character"))
            continue
        try:
            g = parse_role_group(r.get("role_group"))
        except ValueError as exc:
            problems.append((i, "role_group", str(exc)))
            continue
        try:
            s = parse_soc(r.get("soc_group"))
        except ValueError as exc:
            problems.append((i, "soc_group", str(exc)))
            continue
        if key in clean:
            problems.append((i, "title", f"job title '{_printable(title[:60])}' is listed twice "
                                         f"(first at row {clean[key][3]})"))
            continue
        clean[key] = (title, g, s, i)
    if problems:
        raise RowErrors(source, problems)
    existing = {m.title_key: m for m in session.execute(
        select(RoleMapping).where(RoleMapping.title_key.in_(list(clean)))).scalars()} if clean else {}
    changed: set[str] = set()
    now = utcnow()
    for key, (title, g, s, _i) in clean.items():
        m = existing.get(key)
        if m is None:
            session.add(RoleMapping(title_key=key, title=title, role_group=g, soc_group=s, updated_by=actor,
                                    updated_at=now))
            changed.add(key)
        elif (m.role_group, m.soc_group) != (g, s):
            m.role_group, m.soc_group, m.updated_by, m.updated_at = g, s, actor, now
            session.add(m)
            changed.add(key)
    session.flush()
    threads = refresh_thread_groups(session, changed) if changed else 0
    if changed:
        audit.record(session, actor=actor, action="role_mapping", entity="role_mapping", entity_id=source[:200],
                     detail={"titles": len(changed), "threads_updated": threads})
    session.commit()
    log.info("role mapping: %d titles changed, %d threads updated", len(changed), threads)
    return len(changed)


def reset_role_mapping(session: Session, titles: list[str], *, actor: str) -> int:
    """Forget the admin's decision for these titles (back to the suggestion); commits."""
    keys = {title_key(t) for t in titles if title_key(t)}
    if not keys:
        return 0
    n = session.execute(delete(RoleMapping).where(RoleMapping.title_key.in_(list(keys)))).rowcount or 0
    refresh_thread_groups(session, keys)
    audit.record(session, actor=actor, action="role_mapping_reset", entity="role_mapping", entity_id="app",
                 detail={"titles": n})
    session.commit()
    return n


def mapping_frame(session: Session) -> pd.DataFrame:
    """The mapping as a CSV-ready table: title, role_group, soc_group, soc_title, threads, mapped."""
    titles = role_titles(session)
    return pd.DataFrame({"title": titles["title"], "role_group": titles["role_group"].fillna(""),
                         "soc_group": titles["soc_group"].fillna(""),
                         "soc_title": [soc_label(c).partition(" ")[2] if c else "" for c in titles["soc_group"]],
                         "threads": titles["threads"], "mapped": titles["mapped"]}, columns=list(MAPPING_COLUMNS))


def _read_table(path: Path, *, fields: tuple[str, ...], mapping: dict[str, str] | None, required: tuple[str, ...],
                what: str) -> tuple[pd.DataFrame, list[int], list[tuple[int, str | None, str]]]:
    """A small table file (CSV, XLSX, JSONL, Parquet) as strings, with its row numbers; limits first."""
    path = Path(path)
    check_small_file(path, MAX_SMALL_FILE_BYTES, what)
    fmt = detect_format(path)
    if fmt == "json":
        raise InvalidInput(f"{path.name}: use CSV, XLSX, JSONL or Parquet for {what}")
    mapping = mapping or {}
    for f in mapping:
        if f not in fields:
            raise InvalidInput(f"--map: unknown field '{f}'; fields are {', '.join(fields)}")
    frames, rows, problems = [], [], []
    for raw in iter_raw(path, fmt, chunk_rows=50_000, info=SourceInfo(fmt=fmt)):
        problems.extend(raw.problems)
        if len(raw.frame.columns):
            frames.append(raw.frame)
            rows.extend(raw.rows)
    if not frames:
        if problems:
            raise RowErrors(path.name, problems)
        raise InvalidInput(f"{path.name}: nothing to import (no header or no rows)")
    df = pd.concat(frames, ignore_index=True)
    columns = [str(c).strip() for c in df.columns]
    df.columns = columns
    out = pd.DataFrame(index=df.index)
    for f in fields:
        col = mapping.get(f, f)
        if col in columns:
            out[f] = _as_text(df[col]).tolist()
        elif f in mapping:
            raise InvalidInput(f"{path.name}: --map {f}={col}, but the file has no column '{col}'")
    missing = [f for f in required if f not in out.columns]
    if missing:
        raise InvalidInput(f"{path.name}: no column {', '.join(repr(m) for m in missing)} (columns found: "
                           f"{', '.join(_printable(c) for c in columns[:12])}); name it with --map FIELD=COLUMN")
    if not len(out):
        raise InvalidInput(f"{path.name}: nothing to import (a header but no rows)")
    for f in out.columns:
        for i, v in zip(rows, out[f].tolist()):
            if "\x00" in v:
                problems.append((i, f, "contains a NUL character (0x00), which cannot be stored"))
            elif not v.isascii() and any("\udc80" <= ch <= "\udcff" for ch in v):
                problems.append((i, f, "bad encoding (not UTF-8); re-save the file as UTF-8"))
    return out, rows, problems


def import_role_mapping(session: Session, path: Path | str, *, actor: str = "cli") -> int:
    """Import a mapping file (title, role_group, soc_group; soc_title and other columns are ignored).
    All or nothing: any bad row stops the import with every bad row listed. Commits."""
    path = Path(path)
    df, rows, problems = _read_table(path, fields=("title", "role_group", "soc_group"), mapping=None,
                                     required=("title",), what="a role mapping")
    if problems:
        raise RowErrors(path.name, sorted(problems, key=lambda p: p[0]))
    records = df.to_dict("records")
    try:
        return save_role_mappings(session, records, actor=actor, source=path.name)
    except RowErrors as exc:  # renumber: records are 1-based, file rows are what a person sees
        raise RowErrors(path.name, [(rows[r - 1], f, reason) for r, f, reason in exc.problems]) from None


def soc_choices() -> list[str]:
    """The SOC major groups as 'CODE Title', for selection lists."""
    return [f"{c} {t}" for c, t in SOC_MAJOR_GROUPS.items()]


ROLE_GROUP_CHOICES = ROLE_GROUPS


# --------------------------------------------------------------------------- #
# The roster
# --------------------------------------------------------------------------- #
@dataclass
class RosterReport:
    file: str
    rows: int = 0
    users: int = 0
    entries_added: int = 0
    entries_removed: int = 0
    threads_updated: int = 0

    def summary(self) -> str:
        return (f"{self.file}: {self.rows} roster rows for {self.users} users; {self.entries_added} entries stored "
                f"({self.entries_removed} replaced); {self.threads_updated} threads got a new role or department")


@dataclass
class Roster:
    """Roster entries by user id, to find a user's job at a thread's date."""

    by_user: dict[str, list[tuple[date | None, date | None, str | None, str | None]]] = field(default_factory=dict)

    def at(self, user_id: str | None, when) -> tuple[str | None, str | None] | None:
        entries = self.by_user.get(user_id) if user_id else None
        if not entries:
            return None
        if when is None:
            return entries[0][2:] if len(entries) == 1 else None
        day = when.date() if hasattr(when, "date") else when
        for start, end, title, dept in entries:
            if (start is None or start <= day) and (end is None or day <= end):
                return title, dept
        return None


def load_roster(conn: Connection | Session, users: list[str] | None = None) -> Roster:
    stmt = select(RosterEntry.user_id, RosterEntry.start_date, RosterEntry.end_date, RosterEntry.job_title,
                  RosterEntry.department)
    roster = Roster()
    if users is None:
        batches = [conn.execute(stmt).all()]
    else:
        batches = [conn.execute(stmt.where(RosterEntry.user_id.in_(users[i:i + _CHUNK]))).all()
                   for i in range(0, len(users), _CHUNK)]
    for batch in batches:
        for u, s, e, t, d in batch:
            roster.by_user.setdefault(u, []).append((s, e, t, d))
    for entries in roster.by_user.values():
        entries.sort(key=lambda x: (x[0] or date.min))
    return roster


def _parse_day(value: str) -> date | None:
    if not value:
        return None
    parsed = pd.to_datetime(value, errors="coerce", format="ISO8601")
    if pd.isna(parsed):
        parsed = pd.to_datetime(value, errors="coerce", format="mixed")
    if pd.isna(parsed):
        raise ValueError(f"unparseable date {value[:40]!r}; use ISO 8601 like 2024-05-01")
    return parsed.date()


def import_roster(session: Session, path: Path | str, *, mapping: dict[str, str] | None = None,
                  actor: str = "cli") -> RosterReport:
    """Import a staff roster (user_id, job_title, department[, start_date, end_date]) and give every
    thread of those users the role and department valid at the thread's date. A user's earlier entries
    are replaced by the file's. All or nothing; commits.

    A `role` column is read as the job title when there is no `job_title` column. A user id may appear
    on several rows only with date ranges that do not overlap (a change of job)."""
    path = Path(path)
    mapping = dict(mapping or {})
    df, rows, problems = _read_table(path, fields=ROSTER_FIELDS + ("role",), mapping=mapping,
                                     required=("user_id",), what="a roster")
    if "job_title" not in df.columns:
        if "role" not in df.columns:
            raise InvalidInput(f"{path.name}: no column 'job_title' (or 'role'); name it with --map job_title=COLUMN")
        df["job_title"] = df["role"]
    for f in ("department", "start_date", "end_date"):
        if f not in df.columns:
            df[f] = ""
    entries: dict[str, list[tuple[int, date | None, date | None, str | None, str | None]]] = {}
    for i, rec in zip(rows, df.to_dict("records")):
        uid = rec["user_id"]
        if not uid:
            problems.append((i, "user_id", "empty user_id"))
            continue
        for f in ("user_id", "job_title", "department"):
            if len(rec[f]) > 200:
                problems.append((i, f, "longer than 200 characters"))
        try:
            start = _parse_day(rec["start_date"])
        except ValueError as exc:
            problems.append((i, "start_date", str(exc)))
            continue
        try:
            end = _parse_day(rec["end_date"])
        except ValueError as exc:
            problems.append((i, "end_date", str(exc)))
            continue
        if start and end and end < start:
            problems.append((i, "end_date", f"ends ({end}) before it starts ({start})"))
            continue
        title = _clean_title(rec["job_title"]) or None
        for j, s, e, _t, _d in entries.get(uid, []):
            if (s is None or end is None or s <= end) and (start is None or e is None or start <= e):
                problems.append((i, "user_id", f"user id '{_printable(uid[:60])}' is listed twice with overlapping "
                                               f"dates (first at row {j}); give each job its own start_date and "
                                               "end_date"))
                break
        else:
            entries.setdefault(uid, []).append((i, start, end, title, rec["department"] or None))
    if problems:
        raise RowErrors(path.name, sorted(problems, key=lambda p: p[0]))
    users = sorted(entries)
    report = RosterReport(file=path.name, rows=len(rows), users=len(users))
    old = {}
    for start_i in range(0, len(users), _CHUNK):
        for u, s, e, t, d in session.execute(select(RosterEntry.user_id, RosterEntry.start_date, RosterEntry.end_date,
                                                    RosterEntry.job_title, RosterEntry.department)
                                             .where(RosterEntry.user_id.in_(users[start_i:start_i + _CHUNK]))).all():
            old.setdefault(u, set()).add((s, e, t, d))
    now = utcnow()
    changed_users = []
    for u in users:
        new = {(s, e, t, d) for _i, s, e, t, d in entries[u]}
        if old.get(u) == new:
            continue
        changed_users.append(u)
        report.entries_removed += len(old.get(u, ()))
        report.entries_added += len(new)
    for start_i in range(0, len(changed_users), _CHUNK):
        session.execute(delete(RosterEntry).where(RosterEntry.user_id.in_(changed_users[start_i:start_i + _CHUNK])))
    session.execute(RosterEntry.__table__.insert(), [
        {"user_id": u, "job_title": t, "department": d, "start_date": s, "end_date": e, "source": path.name[:200],
         "imported_at": now} for u in changed_users for _i, s, e, t, d in entries[u]]) if changed_users else None
    report.threads_updated = apply_roster(session, changed_users)
    audit.record(session, actor=actor, action="import_roster", entity="file", entity_id=path.name[:200],
                 detail={"rows": report.rows, "users": report.users, "entries": report.entries_added,
                         "threads_updated": report.threads_updated})
    session.commit()
    return report


def apply_roster(conn: Connection | Session, users: list[str]) -> int:
    """Give the threads of these users the role and department of their roster entry at the thread's date
    (and the role's effective groups). Threads outside every entry's dates keep what they had."""
    if not users:
        return 0
    roster = load_roster(conn, users)
    lookup = load_lookup(conn)
    updates = []
    for start in range(0, len(users), _CHUNK):
        rows = conn.execute(select(Thread.id, Thread.user_id, Thread.created_at, Thread.role, Thread.department,
                                   Thread.role_group, Thread.soc_group)
                            .where(Thread.user_id.in_(users[start:start + _CHUNK]))).all()
        for tid, uid, created, role, dept, rg, soc in rows:
            found = roster.at(uid, created)
            if found is None:
                continue
            title, new_dept = found
            title = title if title is not None else role
            new_dept = new_dept if new_dept is not None else dept
            g, s = lookup.groups(title)
            if (title, new_dept, g, s) != (role, dept, rg, soc):
                updates.append({"t_id": tid, "t_role": title, "t_dept": new_dept, "t_group": g, "t_soc": s})
    stmt = (update(Thread.__table__).where(Thread.__table__.c.id == bindparam("t_id"))
            .values(role=bindparam("t_role"), department=bindparam("t_dept"), role_group=bindparam("t_group"),
                    soc_group=bindparam("t_soc")))
    for start in range(0, len(updates), _CHUNK):
        conn.execute(stmt, updates[start:start + _CHUNK])
    if updates:
        bump_revision(conn)
    return len(updates)


def roster_frame(session: Session) -> pd.DataFrame:
    rows = session.execute(select(RosterEntry.user_id, RosterEntry.job_title, RosterEntry.department,
                                  RosterEntry.start_date, RosterEntry.end_date)
                           .order_by(RosterEntry.user_id, RosterEntry.start_date)).all()
    return pd.DataFrame(rows, columns=["user_id", "job_title", "department", "start_date", "end_date"])


def roster_count(session: Session) -> tuple[int, int]:
    """(entries, distinct users) in the roster."""
    n, users = session.execute(select(func.count(), func.count(func.distinct(RosterEntry.user_id)))).one()
    return int(n), int(users)


__all__ = ["Problem", "RoleLookup", "Roster", "RosterReport", "apply_roster", "import_role_mapping", "import_roster",
           "load_lookup", "load_roster", "mapping_frame", "refresh_thread_groups", "reset_role_mapping",
           "role_titles", "save_role_mappings", "soc_choices"]
