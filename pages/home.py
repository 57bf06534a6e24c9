"""Home: what to do next. Reviewers see only their own rounds and progress; leads see the whole picture."""

import streamlit as st

from annotator import ui
from annotator.services import labeling
from annotator.services.rounds import list_rounds, round_progress
from annotator.services.status import status

user = ui.require_user()
st.title(f"Welcome, {ui.esc(user.display_name)}")
ui.show_flash()
with ui.session() as s:
    mine = labeling.rounds_for_reviewer(s, user.id)
if mine:
    st.subheader("Your labeling")
    for r in mine:
        cols = st.columns([2, 3, 1])
        cols[0].write(f"**{ui.esc(r.name)}**")
        if r.due_on:
            cols[0].caption(f"due {r.due_on:%d %b %Y}")
        cols[1].progress(r.done / r.assigned if r.assigned else 0.0, text=f"{r.done} / {r.assigned}")
        if cols[2].button("Label", key=f"home.go.{r.round_id}"):
            st.session_state[ui.K.LABEL_ROUND] = r.name
            st.switch_page("../pages/label.py")
elif user.role == "reviewer":
    st.info("No open rounds are assigned to you yet.")

if user.is_lead:
    with ui.session() as s:
        st_ = status(s)
        rounds = list_rounds(s)
        progress = {r.name: round_progress(s, r.name) for r in rounds if r.status == "open"}
    st.subheader("Corpus")
    cols = st.columns(5)
    cols[0].metric("Threads", f"{st_['threads']:,}")
    cols[1].metric("Truncated", f"{st_['truncated_threads']:,}")
    cols[2].metric("Rounds", f"{st_['rounds']} ({st_['open_rounds']} open)")
    cols[3].metric("Labels", f"{st_['labels']:,}")
    cols[4].metric("Codebook version", st_["codebook_version"] or "none")
    if progress:
        st.subheader("Open rounds")
        for name, rows in progress.items():
            total = sum(p.assigned for p in rows)
            done = sum(p.done for p in rows)
            st.progress(done / total if total else 0.0, text=f"{ui.esc(name)}: {done} / {total} labels")
