"""Candidate examples (every role): mark the candidate messages you find most representative of their
category. The top three by votes become the category's examples when a lead adopts them on the
Codebook page. Candidates are shown in id order, never ranked by votes, so nothing nudges the vote."""

import streamlit as st

from annotator import ui
from annotator.services import refine
from annotator.services.codebook import get_version

user = ui.require_user("reviewer", "lead", "admin")
st.title("Candidate examples")
ui.show_flash()


def toggle(candidate_id: int, voted: bool) -> None:
    with ui.session() as s:
        refine.unvote(s, candidate_id, user.id) if voted else refine.vote(s, candidate_id, user.id)


with ui.session() as s:
    current = get_version(s)
if current is None:
    st.info("No codebook loaded yet.")
    st.stop()
names = [c["name"] for c in ui.categories(current.id)]
category = st.selectbox("Category", names, key="candidates.category")
definition = next(c["definition"] for c in ui.categories(current.id) if c["name"] == category)
if definition:
    ui.plain(definition, css_class="plain-text muted")
else:
    st.caption("No definition.")
with ui.session() as s:
    cands = refine.list_candidates(s, category)
if not cands:
    st.info("No candidate examples for this category yet.")
    st.stop()
for c in cands:
    voted = user.username in c["voters"]
    row = st.columns([8, 1], vertical_alignment="center")
    with row[0]:
        ui.plain(c["text"], css_class="plain-text candidate")
    row[1].button("Unvote" if voted else "Vote", key=f"candidates.vote.{c['id']}", on_click=ui.guarded(toggle),
                  args=(c["id"], voted), type="secondary" if voted else "primary")
