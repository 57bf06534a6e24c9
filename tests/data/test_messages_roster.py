"""Message logs, re-imports, the roster and the role mapping in the database (SQLite and PostgreSQL), in
the order a methodologist works: import a log (dry run first), a roster, a mapping; re-import a changed
log; look at the dashboard by SOC group; export the threads."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, AuditEvent, Label, Thread
from annotator.errors import RowErrors
from annotator.services import dashboard as dash
from annotator.services.roles import (import_role_mapping, import_roster, mapping_frame, role_titles,
                                      save_role_mappings)
from annotator.services.threads import export_threads, import_threads
from tests.factories import count_rows, dump_tables, make_round, run_cli

MAP = {"thread_id": "conversation_id", "text": "content", "position": "message_index", "user_id": "user"}


def write_log(path, rows):
    pd.DataFrame(rows, columns=["conversation_id", "message_index", "sender", "content", "user", "sent_at"]) \
        .to_csv(path, index=False)
    return path


LOG = [("c1", 1, "user", "Draft an email to my manager", "u1", "2024-05-01T09:00:00Z"),
       ("c1", 2, "assistant", "Sure, here it is", "", "2024-05-01T09:00:04Z"),
       ("c1", 3, "user", "=HYPERLINK(\"http://x\")", "u1", "2024-05-01T09:01:00Z"),
       ("c2", 1, "user", "What is the dose of amoxicillin?", "u2", "2024-06-01T09:00:00Z"),
       ("c3", 1, "user", "Fix my excel formula", "u3", "2024-07-01T09:00:00Z")]


def stored(engine) -> dict[str, Thread]:
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(select(Thread)).all()}


def test_dry_run_then_import_then_a_changed_log(engine, tmp_path):
    path = write_log(tmp_path / "log.csv", LOG)
    mapping = dict(MAP, created_at="sent_at")
    before = dump_tables(engine)
    preview = import_threads(engine, path, messages=True, mapping=mapping, dry_run=True)
    assert dump_tables(engine) == before  # nothing written, not even an audit row
    assert (preview.mode, preview.threads, preview.inserted) == ("messages", 3, 3)
    assert [s["thread_id"] for s in preview.sample] == ["c1", "c2", "c3"]
    assert preview.sample[0]["text"].startswith("user: Draft an email") and preview.sample[0]["user_turns"] == 2

    report = import_threads(engine, path, messages=True, mapping=mapping)
    assert (report.rows_read, report.threads, report.inserted) == (5, 3, 3)
    c1 = stored(engine)["c1"]
    assert c1.user_turns == 2 and c1.meta == {"messages": 3, "assistant_messages": 1, "system_messages": 0}
    assert pd.Timestamp(c1.created_at).tz_localize(None) == pd.Timestamp("2024-05-01T09:00:00")
    assert pd.Timestamp(c1.last_message_at).tz_localize(None) == pd.Timestamp("2024-05-01T09:01:00")

    again = import_threads(engine, path, messages=True, mapping=mapping)
    assert (again.inserted, again.already_present, again.changed) == (0, 3, [])

    changed = LOG + [("c1", 4, "user", "and cc the team", "u1", "2024-05-01T09:02:00Z"),
                     ("c2", 2, "user", "for a child of 20 kg", "u2", "2024-06-01T09:00:30Z")]
    path2 = write_log(tmp_path / "log2.csv", changed)
    kept = import_threads(engine, path2, messages=True, mapping=mapping)
    assert kept.changed == [(2, "c1"), (5, "c2")] and kept.updated == []
    assert "and cc" not in stored(engine)["c1"].text  # kept by default

    with Session(engine) as s:  # c2 gets a label: it must never change silently
        res = make_round(s, name="r", size=1, reviewers=("a", "b"), per_thread=1, seed=1)
        reviewer = s.execute(select(Account)).scalars().first()
        s.add(Label(round_id=res.round.id, thread_id=stored(engine)["c2"].id, reviewer_id=reviewer.id,
                    category="Other", codebook_version_id=res.round.codebook_version_id))
        s.commit()
    updated = import_threads(engine, path2, messages=True, mapping=mapping, update_changed=True)
    assert updated.updated == [(2, "c1")] and updated.kept_labeled == [(5, "c2")]
    rows = stored(engine)
    assert rows["c1"].text.endswith("user: and cc the team") and rows["c1"].user_turns == 3
    assert "20 kg" not in rows["c2"].text
    with engine.connect() as conn:
        audit = conn.execute(select(AuditEvent).where(AuditEvent.action == "import_threads")
                             .order_by(AuditEvent.id.desc())).first()
    assert audit.detail["updated"] == ["c1"] and "amoxicillin" not in json.dumps(audit.detail)


def test_roster_fills_roles_by_user_and_date_and_applies_to_later_imports(engine, session, tmp_path):
    path = write_log(tmp_path / "log.csv", LOG)
    import_threads(engine, path, messages=True, mapping=dict(MAP, created_at="sent_at"))
    roster = tmp_path / "roster.csv"
    roster.write_text("user_id,job_title,department,start_date,end_date\n"
                      "u1,Medical Assistant,Cardiology,2024-01-01,2024-05-31\n"
                      "u1,Registered Nurse,Cardiology,2024-06-01,\n"
                      "u2,Physician,Emergency,,\n"
                      "u9,Scheduler,Radiology,,\n")
    rep = import_roster(session, roster)
    assert (rep.users, rep.threads_updated) == (3, 2)
    rows = stored(engine)
    assert (rows["c1"].role, rows["c1"].department, rows["c1"].role_group, rows["c1"].soc_group) == \
        ("Medical Assistant", "Cardiology", "non-clinician", "31-0000")  # the job held on 2024-05-01
    assert (rows["c2"].role, rows["c2"].role_group, rows["c2"].soc_group) == ("Physician", "clinician", "29-0000")
    assert rows["c3"].role is None  # u3 is not in the roster
    assert import_roster(session, roster).threads_updated == 0  # the same roster again changes nothing
    later = write_log(tmp_path / "later.csv", [("c9", 1, "user", "Schedule a room", "u9", "2024-08-01T00:00:00Z")])
    import_threads(engine, later, messages=True, mapping=dict(MAP, created_at="sent_at"))
    assert (stored(engine)["c9"].role, stored(engine)["c9"].department) == ("Scheduler", "Radiology")


def test_a_roster_with_a_user_twice_writes_nothing(engine, session, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("user_id,job_title\nu1,Nurse\nu2,Physician\nu1,Scheduler\n")
    before = dump_tables(engine)
    with pytest.raises(RowErrors, match=r"roster.csv, row 4, field 'user_id': user id 'u1' is listed twice"):
        import_roster(session, roster)
    assert dump_tables(engine) == before


def test_the_mapping_table_decides_groups_and_round_trips_as_csv(engine, session, tmp_path):
    frame = pd.DataFrame({"thread_id": [f"t{i}" for i in range(6)], "text": ["hello"] * 6,
                          "role": ["Registered Nurse", "Registered Nurse", "Physician", "Financial Counselor",
                                   "Chief Wellness Officer", "Unit Clerk"],
                          "user_id": [f"u{i}" for i in range(6)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    import_threads(engine, tmp_path / "t.csv")
    titles = role_titles(session)
    assert not titles["mapped"].any() and titles.iloc[0]["title"] == "Registered Nurse"  # most threads first
    assert stored(engine)["t0"].role_group == "non-clinician"  # the study's default: RNs are non-clinicians
    save_role_mappings(session, [{"title": "registered  nurse", "role_group": "clinician", "soc_group": "29"}],
                       actor="admin")
    rows = stored(engine)
    assert (rows["t0"].role_group, rows["t1"].role_group, rows["t0"].soc_group) == ("clinician", "clinician", "29-0000")
    titles = role_titles(session)
    assert list(titles["mapped"]) == [False] * 4 + [True]  # unmapped titles first
    out = tmp_path / "mapping.csv"
    assert run_cli(["export", "role-mapping", "--out", out], str(engine.url.render_as_string(hide_password=False))).exit_code == 0
    exported = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(exported.columns) >= {"title", "role_group", "soc_group", "soc_title"}
    exported.loc[exported["title"] == "Chief Wellness Officer", "role_group"] = "non-clinician"
    exported.to_csv(out, index=False)
    import_role_mapping(session, out)
    assert mapping_frame(session)["mapped"].all()
    bad = tmp_path / "bad.csv"
    bad.write_text("title,role_group,soc_group\nPhysician,clinician,77-0000\n")
    before = dump_tables(engine)
    with pytest.raises(RowErrors, match="bad.csv, row 2, field 'soc_group'"):
        import_role_mapping(session, bad)
    assert dump_tables(engine) == before


def test_dashboard_by_soc_group(engine, session, tmp_path):
    frame = pd.DataFrame({"thread_id": [f"t{i}" for i in range(6)], "text": ["hello"] * 6,
                          "role": ["Physician", "Physician", "Scheduler", "Scheduler", "Scheduler", None],
                          "created_at": ["2024-05-01"] * 6})
    frame.to_csv(tmp_path / "t.csv", index=False)
    import_threads(engine, tmp_path / "t.csv")
    make_round(session, name="r", size=6, reviewers=("a",), per_thread=1, seed=1)
    cube = dash.model_cube(session, None)
    assert set(cube["soc_group"]) == {"29-0000", "43-0000", dash.UNKNOWN_GROUP}
    opts = dash.filter_options(session, cube)
    assert opts["soc_groups"] == ["29-0000", "43-0000", dash.UNKNOWN_GROUP]
    only = dash.filter_cube(cube, dash.Filters(soc_groups=("43-0000",)))
    assert int(only["n"].sum()) == 3
    version = dash.data_version(session, None)
    save_role_mappings(session, [{"title": "Scheduler", "role_group": "non-clinician", "soc_group": "11-0000"}],
                       actor="admin")
    assert dash.data_version(session, None) != version  # the stored cube is rebuilt after a mapping change
    assert set(dash.model_cube(session, None)["soc_group"]) == {"29-0000", "11-0000", dash.UNKNOWN_GROUP}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_threads_writes_what_was_assembled(engine, tmp_path, fmt):
    path = write_log(tmp_path / "log.csv", LOG)
    import_threads(engine, path, messages=True, mapping=dict(MAP, created_at="sent_at"))
    out = tmp_path / f"threads.{fmt}"
    assert export_threads(engine, fmt, out) == 3
    if fmt == "csv":
        text = out.read_text()
        back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        c1 = back[back["thread_id"] == "c1"].iloc[0]
        assert c1["user_turns"] == "2" and c1["first_message_at"].startswith("2024-05-01T09:00:00")
        rows = list(csv.reader(io.StringIO(text)))
        assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    elif fmt == "jsonl":
        back = pd.read_json(out, lines=True, dtype=False)
        assert back.loc[back["thread_id"] == "c1", "text"].iloc[0].endswith('user: =HYPERLINK("http://x")')
    else:
        back = pd.read_parquet(out)
        assert list(back.columns)[:3] == ["thread_id", "text", "truncated"] and len(back) == 3
    assert count_rows(engine, Thread) == 3
