"""Rounds (leads and admins): draw a new sampled round, follow every reviewer's progress, and manage
a round: close or reopen it, set a due date, move unlabeled work from one reviewer to others
(replace a reviewer, or rebalance), archive a closed round, delete one that has no labels, and
download its labels."""

import datetime as dt
import functools
import secrets

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import admin
from annotator.services import rounds as svc
from annotator.services.rounds import ACCEPTANCE_RULES, STRATIFY_COLUMNS
from annotator.services.tables import TABLE_FORMATS

SEED = "rounds.seed"
SELECTED = "rounds.selected"
MIME = {"csv": "text/csv", "jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet"}
FIELDS = {"round": "Name", "size": "Sample size", "per_thread": "Reviewers per thread", "reviewers": "Reviewers",
          "stratify": "Stratify by", "to": "To", "count": "How many", "due": "Due date"}

user = ui.require_user("lead", "admin")
st.title("Rounds")
ui.show_flash()

with ui.session() as s:
    reviewers = admin.reviewer_choices(s, passwordless=ui.sso_configured())
    versions = admin.codebook_version_numbers(s)
    overview = admin.rounds_overview(s)

# --- new round ---------------------------------------------------------------------------------
st.session_state.setdefault(SEED, secrets.randbelow(2**31 - 1))
with st.expander("New round", expanded=not overview):
    with st.form("rounds.new", border=False):
        name = st.text_input("Name", key="rounds.name", placeholder="e.g. round-2")
        cols = st.columns(3)
        size = cols[0].number_input("Sample size (threads)", min_value=1, value=100, step=10, key="rounds.size")
        per_thread = cols[1].number_input("Reviewers per thread (K)", min_value=1, value=3, key="rounds.k")
        seed = cols[2].number_input("Seed (stored with the round)", min_value=0, step=1, key=SEED)
        chosen = st.multiselect("Reviewers", reviewers, key="rounds.reviewers",
                                placeholder="Reviewer accounts" if reviewers else "No reviewer accounts yet",
                                help="Active reviewer accounts that can sign in; adjudicators are left out so a third "
                                     "review stays independent.")
        cols = st.columns(3)
        stratify = cols[0].selectbox("Stratify by", ["(none)", *STRATIFY_COLUMNS], key="rounds.stratify")
        version = cols[1].selectbox("Codebook version", versions, key="rounds.version",
                                    format_func=lambda v: f"version {v}" + (" (newest)" if v == versions[0] else ""))
        rule = cols[2].selectbox("Accepted without adjudication", ACCEPTANCE_RULES, key="rounds.rule",
                                 format_func={"unanimous": "unanimous agreement", "majority": "majority"}.get)
        cols = st.columns(3)
        frequent = cols[0].checkbox("Frequent users only", key="rounds.frequent")
        min_threads = cols[1].number_input("…with at least this many threads", min_value=1, value=6,
                                           key="rounds.min_threads")
        exclude = cols[2].checkbox("Exclude threads already sampled", value=True, key="rounds.exclude")
        cols = st.columns(3)
        reveal = cols[0].checkbox("Reveal step: after the blind label, show the model's label and record a second one",
                                  key="rounds.reveal")
        due = cols[1].date_input("Due date (optional)", value=None, key="rounds.due", format="YYYY-MM-DD")
        create = st.form_submit_button("Create round", type="primary")
if create:
    try:
        with st.status("Drawing the sample…", expanded=False) as box, ui.session() as s:
            res = svc.create_sampled_round(
                s, name=name, size=int(size), reviewers=list(chosen), per_thread=int(per_thread), seed=int(seed),
                stratify=None if stratify == "(none)" else stratify, frequent_users_only=frequent,
                min_user_threads=int(min_threads), exclude_sampled=exclude, codebook_version=version,
                acceptance_rule=rule, reveal_enabled=reveal, actor=user.username)
            if due:
                svc.set_due_date(s, name=res.round.name, due_on=due, actor=user.username)
            box.update(label="Round created", state="complete")
    except Exception as exc:  # noqa: BLE001 - report_error: user errors as one line, anything else calmly
        ui.report_error(exc, FIELDS)
    else:
        del st.session_state[SEED]  # the next round gets a new random seed
        ui.flash(f"Round '{ui.esc(res.round.name)}': {res.n_threads} threads, {res.n_assignments} assignments.")
        st.rerun()

# --- existing rounds ---------------------------------------------------------------------------
if not overview:
    st.info("No rounds yet: create one above.")
    st.stop()
st.dataframe(admin.overview_frame(overview), hide_index=True, width="stretch")

names = [r.name for r in overview]
if st.session_state.get(SELECTED) not in names:
    st.session_state[SELECTED] = names[0]
picked = st.selectbox("Round", names, key=SELECTED)
rnd = next(r for r in overview if r.name == picked)


def _act(action, done, **kwargs) -> None:
    """Run a round service as this lead; flash `done(result)` or the user error as one line."""
    try:
        with ui.session() as s:
            result = action(s, actor=user.username, **kwargs)
    except AnnotatorError as exc:
        ui.flash(ui.esc(exc.page_message(FIELDS)), "error")
        return
    ui.flash(ui.esc(done(result) if callable(done) else done))


def set_due(round_name: str, key: str, clear: bool) -> None:
    value = None if clear else st.session_state.get(key)
    _act(svc.set_due_date, f"Round '{round_name}': " + (f"due {value:%Y-%m-%d}." if value else "no due date."),
        name=round_name, due_on=value)


def delete(round_name: str) -> None:
    if not st.session_state.get(f"rounds.delete_ok.{round_name}"):
        ui.flash("Tick the box to confirm the deletion first.", "warning")
        return
    _act(svc.delete_round, lambda n: f"Round '{round_name}' deleted ({n:,} assignments).", name=round_name)
    st.session_state.pop(SELECTED, None)


def move(round_name: str) -> None:
    k = f"rounds.move.{round_name}"
    source, targets = st.session_state.get(f"{k}.from"), st.session_state.get(f"{k}.to") or []
    count = None if st.session_state.get(f"{k}.all", True) else int(st.session_state.get(f"{k}.count") or 0)

    def done(res: svc.Reassignment) -> str:
        given = ", ".join(f"{who} {n}" for who, n in res.moved.items())
        kept = f"; {res.kept} stayed with {source} (every reviewer chosen already has them)" if res.kept else ""
        return f"Moved {res.n_moved} unlabeled thread(s) from {source}: {given}{kept}."

    _act(svc.reassign_unlabeled, done, name=round_name, from_reviewer=source, to_reviewers=list(targets), count=count)


# the one guard (session, active flag, current role) on every callback of this page
act = ui.guarded(_act, "lead", "admin")
set_due, delete, move = (ui.guarded(f, "lead", "admin") for f in (set_due, delete, move))


def _export(round_name: str, fmt: str) -> bytes:
    with ui.session() as s:
        return admin.export_labels_bytes(s, round_name, fmt)


def export(round_name: str, fmt: str) -> bytes:
    """The file, made when the button is pressed: through the guard, so a stale tab downloads nothing."""
    return ui.guarded(_export, "lead", "admin")(round_name, fmt) or b""


left, right = st.columns([3, 2], gap="large")
with left:
    st.progress(rnd.done / rnd.assigned if rnd.assigned else 0.0, text=f"{rnd.done} / {rnd.assigned} labels")
    for p in rnd.progress:
        st.progress(p.done / p.assigned if p.assigned else 0.0, text=f"{ui.esc(p.reviewer)}: {p.done} / {p.assigned}")

with right:
    state = rnd.status + (", archived (hidden from reviewers)" if rnd.archived else "")
    st.text(f"{rnd.name}: {state} · seed {rnd.seed} · K = {rnd.per_thread}"
            + (f" · due {rnd.due_on:%Y-%m-%d}" if rnd.due_on else ""))
    cols = st.columns(2)
    if rnd.status == "open":
        cols[0].button("Close round", key="rounds.close", on_click=act,
                       args=(svc.set_round_status, f"Round '{rnd.name}' is closed."),
                       kwargs={"name": rnd.name, "status": "closed"}, help="Reviewers can no longer change their labels.")
    else:
        cols[0].button("Reopen round", key="rounds.reopen", on_click=act,
                       args=(svc.set_round_status, f"Round '{rnd.name}' is open."), kwargs={"name": rnd.name, "status": "open"})
        if rnd.archived:
            cols[1].button("Restore from archive", key="rounds.unarchive", on_click=act,
                           args=(svc.archive_round, f"Round '{rnd.name}' is back in reviewers' lists."),
                           kwargs={"name": rnd.name, "archived": False})
        else:
            cols[1].button("Archive round", key="rounds.archive", on_click=act,
                           args=(svc.archive_round, f"Round '{rnd.name}' is archived: reviewers no longer see it."),
                           kwargs={"name": rnd.name}, help="Hidden from reviewers; reports and exports keep it.")
    due_key = f"rounds.due.{rnd.name}"
    cols = st.columns([4, 2, 2], vertical_alignment="bottom")
    cols[0].date_input("Due date", value=rnd.due_on, key=due_key, format="YYYY-MM-DD",
                       min_value=dt.date(2000, 1, 1))
    cols[1].button("Set", key="rounds.due_set", on_click=set_due, args=(rnd.name, due_key, False), width="stretch")
    cols[2].button("Clear", key="rounds.due_clear", on_click=set_due, args=(rnd.name, due_key, True),
                   disabled=rnd.due_on is None, width="stretch")
    st.caption("Download labels")
    cols = st.columns(len(TABLE_FORMATS))
    for col, fmt in zip(cols, TABLE_FORMATS):
        col.download_button(fmt.upper(), data=functools.partial(export, rnd.name, fmt), file_name=f"labels-{rnd.name}.{fmt}",
                            mime=MIME[fmt], key=f"rounds.export.{fmt}", on_click="ignore")
    if rnd.done == 0:
        with st.expander("Delete this round"):
            st.caption("It has no labels yet: the round and its assignments are removed (the audit log keeps a record).")
            st.checkbox(f"Yes, delete round '{rnd.name}'", key=f"rounds.delete_ok.{rnd.name}")
            st.button("Delete round", key="rounds.delete", on_click=delete, args=(rnd.name,))

if rnd.status == "open":
    k = f"rounds.move.{rnd.name}"
    holders = [p.reviewer for p in rnd.progress if p.assigned > p.done]
    with st.expander("Move unlabeled work: replace a reviewer, or rebalance"):
        if not holders:
            st.caption("Every assigned thread is labeled.")
        else:
            cols = st.columns([2, 3])
            source = cols[0].selectbox("From", holders, key=f"{k}.from",
                                       format_func=lambda r: f"{r} ({next(p.assigned - p.done for p in rnd.progress if p.reviewer == r)} unlabeled)")
            cols[1].multiselect("To", [r for r in reviewers if r != source], key=f"{k}.to",
                                help="Each thread goes to the chosen reviewer with the fewest unlabeled threads in "
                                     "this round who does not already have it.")
            cols = st.columns([2, 2, 1], vertical_alignment="bottom")
            everything = cols[0].checkbox("All their unlabeled threads (replace the reviewer)", value=True,
                                          key=f"{k}.all")
            cols[1].number_input("How many (from the end of their queue)", min_value=1, value=10, key=f"{k}.count",
                                 disabled=everything)
            cols[2].button("Move threads", key="rounds.move", on_click=move, args=(rnd.name,), type="primary")
