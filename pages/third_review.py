"""Third review: an adjudicator decides threads a lead sent them; their decision is final."""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import adjudication as adj
from annotator.services.labeling import get_thread

user = ui.require_user()
st.title("Third review")
if not user.is_adjudicator:
    st.error("Not allowed: this page is for adjudicator accounts.")
    st.stop()
ui.show_flash()
with ui.session() as s:
    queue = adj.third_review_queue(s, user.id)
if not queue:
    st.success("Nothing is waiting for you.")
    st.stop()
st.progress(0.0, text=f"{len(queue)} thread(s) waiting")
rnd, decision, external_id = queue[0]
with ui.session() as s:
    thread = get_thread(s, decision.thread_id)
    options = adj.anonymous_options(s, rnd.id, decision.thread_id, seed=decision.id)
left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(f"#### Thread {external_id} · round {rnd.name}")
    with st.container(height=480, border=True):
        ui.show_thread(thread.text)
with right:
    st.caption("The independent reviewers chose between: " + ", ".join(options) + " (random order).")
    cats = [c["name"] for c in ui.categories(rnd.codebook_version_id)]
    with st.form(f"third.{decision.id}", clear_on_submit=True):
        final = st.radio("Your final label", cats, index=None)
        rationale = st.text_area("Rationale", height=80)
        if st.form_submit_button("Record final label", type="primary"):
            if final is None:
                ui.flash("Choose a label first.", "warning")
            else:
                try:
                    with ui.session() as s:
                        adj.third_reviewer_decide(s, round_id=rnd.id, thread_id=decision.thread_id,
                                                  adjudicator_id=user.id, category=final, rationale=rationale,
                                                  actor=user.username)
                    ui.flash(f"Recorded: {final}")
                except AnnotatorError as exc:
                    ui.flash(str(exc), "error")
            st.rerun()
    ui.codebook_panel(rnd.codebook_version_id)
