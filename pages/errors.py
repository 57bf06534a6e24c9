"""Error analysis (leads): threads where a model run and the consensus disagree; tag each case."""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services.classify import list_runs
from annotator.services.labeling import get_thread
from annotator.services.model_eval import ERROR_TAGS, disagreements, tag_error
from annotator.services.adjudication import default_round_name
from annotator.services.consensus import read_consensus
from annotator.services.rounds import list_rounds

user = ui.require_user("lead", "admin")
st.title("Error analysis")
ui.show_flash()
with ui.session() as s:
    runs = list_runs(s)
    rounds = [r.name for r in list_rounds(s)]
    preferred = default_round_name(s)
if not runs or not rounds:
    st.info("Classify a round and adjudicate it first.")
    st.stop()
cols = st.columns(3)
run_id = cols[0].selectbox("Run", [r.id for r in runs], format_func=lambda i: f"#{i}", key="errors.run")
round_name = cols[1].selectbox("Round (consensus)", rounds, index=rounds.index(preferred) if preferred in rounds else len(rounds) - 1, key="errors.round")
only_untagged = cols[2].checkbox("Only untagged", value=True, key="errors.untagged")
try:
    with ui.session() as s:
        df = disagreements(s, run_id, round_name=round_name)
        completeness = read_consensus(s, [round_name]).completeness()[0]
except AnnotatorError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"{len(df)} disagreements · {int(df['tag'].notna().sum())} tagged")
st.caption(f"Decided threads only: {ui.esc(completeness.sentence())}")
view = df[df["tag"].isna()] if only_untagged else df
if view.empty:
    st.success("No disagreements to tag.")
    st.stop()
pick = st.selectbox("Thread", list(view.index), format_func=lambda i: f"{view.at[i, 'thread_id']}: consensus "
                    f"{view.at[i, 'consensus']} · model {view.at[i, 'model']}", key="errors.pick")
row = view.loc[pick]
left, right = st.columns([3, 2], gap="large")
with left:
    with ui.session() as s:
        thread = get_thread(s, int(row["thread_pk"]))
    with st.container(height=420, border=True):
        ui.show_thread(thread.text)
with right:
    st.markdown(f"**Consensus:** {ui.esc(row['consensus'])}  \n**Model:** {ui.esc(row['model'])}")
    st.caption("Model rationale:")
    ui.plain(row["rationale"] or "—", css_class="plain-text muted")
    with st.form(f"errors.tag.{run_id}.{row['thread_pk']}"):
        tag = st.radio("Verdict", ERROR_TAGS, index=None, format_func=lambda t: t.replace("_", " ").capitalize())
        comment = st.text_area("Comment", value=row["comment"] or "", height=80)
        if st.form_submit_button("Save", type="primary"):
            if tag is None:
                st.warning("Choose a verdict.")
            else:
                with ui.session() as s:
                    tag_error(s, run_id=run_id, thread_id=int(row["thread_pk"]), tag=tag, comment=comment,
                              category=row["consensus"], actor=user.username)
                ui.flash("Tag saved")
                st.rerun()
