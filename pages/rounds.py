"""Rounds (leads and admins): draw a new sampled round, follow every reviewer's progress, close or
reopen a round, and download its labels."""

import functools
import secrets

import streamlit as st

from annotator import ui
from annotator.services import admin
from annotator.services.rounds import ACCEPTANCE_RULES, STRATIFY_COLUMNS, create_sampled_round, set_round_status
from annotator.services.tables import TABLE_FORMATS

SEED = "rounds.seed"
SELECTED = "rounds.selected"
MIME = {"csv": "text/csv", "jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet"}

user = ui.require_user("lead", "admin")
st.title("Rounds")
ui.show_flash()

with ui.session() as s:
    reviewers = admin.reviewer_choices(s)
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
                                placeholder="Reviewer accounts" if reviewers else "No reviewer accounts yet")
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
        reveal = st.checkbox("Reveal step: after the blind label, show the model's label and record a second one",
                             key="rounds.reveal")
        create = st.form_submit_button("Create round", type="primary")
if create:
    try:
        with st.status("Drawing the sample…", expanded=False) as box, ui.session() as s:
            res = create_sampled_round(
                s, name=name, size=int(size), reviewers=list(chosen), per_thread=int(per_thread), seed=int(seed),
                stratify=None if stratify == "(none)" else stratify, frequent_users_only=frequent,
                min_user_threads=int(min_threads), exclude_sampled=exclude, codebook_version=version,
                acceptance_rule=rule, reveal_enabled=reveal, actor=user.username)
            box.update(label="Round created", state="complete")
    except Exception as exc:  # noqa: BLE001 - report_error: user errors as one line, anything else calmly
        ui.report_error(exc)
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
picked = st.selectbox("Round", names, key=SELECTED)
rnd = next(r for r in overview if r.name == picked)
left, right = st.columns([3, 2], gap="large")
with left:
    st.progress(rnd.done / rnd.assigned if rnd.assigned else 0.0, text=f"{rnd.done} / {rnd.assigned} labels")
    for p in rnd.progress:
        st.progress(p.done / p.assigned if p.assigned else 0.0, text=f"{ui.esc(p.reviewer)}: {p.done} / {p.assigned}")


def change_status(round_name: str, status: str) -> None:
    with ui.session() as s:
        set_round_status(s, name=round_name, status=status, actor=user.username)
    ui.flash(f"Round '{ui.esc(round_name)}' is {status}.")


change_status = ui.guarded(change_status, "lead", "admin")  # the one guard: session, active flag, current role


def _export(round_name: str, fmt: str) -> bytes:
    with ui.session() as s:
        return admin.export_labels_bytes(s, round_name, fmt)


def export(round_name: str, fmt: str) -> bytes:
    """The file, made when the button is pressed: through the guard, so a stale tab downloads nothing."""
    return ui.guarded(_export, "lead", "admin")(round_name, fmt) or b""


with right:
    st.write(f"**{ui.esc(rnd.name)}** is **{rnd.status}** · seed {rnd.seed} · K = {rnd.per_thread}")
    if rnd.status == "open":
        st.button("Close round", key="rounds.close", on_click=change_status, args=(rnd.name, "closed"),
                  help="Reviewers can no longer change their labels.")
    else:
        st.button("Reopen round", key="rounds.reopen", on_click=change_status, args=(rnd.name, "open"))
    st.caption("Download labels")
    cols = st.columns(len(TABLE_FORMATS))
    for col, fmt in zip(cols, TABLE_FORMATS):
        col.download_button(fmt.upper(), data=functools.partial(export, rnd.name, fmt), file_name=f"labels-{rnd.name}.{fmt}",
                            mime=MIME[fmt], key=f"rounds.export.{fmt}", on_click="ignore")
