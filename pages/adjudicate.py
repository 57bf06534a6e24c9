"""Adjudicate a round's disagreements (leads): one boundary at a time, never nudged."""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import adjudication as adj
from annotator.services.accounts import list_accounts
from annotator.services.consensus import read_consensus
from annotator.services.tables import frame_bytes
from annotator.services.labeling import get_thread
from annotator.services.rounds import list_rounds, set_round_options
from annotator.ui import K

user = ui.require_user("lead", "admin")
st.title("Adjudicate")
ui.show_flash()
with ui.session() as s:
    rounds = list_rounds(s)
    preferred = adj.default_round_name(s)
if not rounds:
    st.info("No rounds yet.")
    st.stop()
names = [r.name for r in rounds]
top = st.columns([2, 2, 3])
name = top[0].selectbox("Round", names, key=K.ADJ_ROUND,
                        index=names.index(preferred) if preferred in names else len(names) - 1)
rnd = next(r for r in rounds if r.name == name)
rule = top[1].radio("Accepted without a lead", ["unanimous", "majority"],
                    index=["unanimous", "majority"].index(rnd.acceptance_rule), horizontal=True,
                    key=f"adj.rule.{rnd.id}")
if rule != rnd.acceptance_rule:
    with ui.session() as s:
        set_round_options(s, name=name, acceptance_rule=rule, actor=user.username)
    st.rerun()

with ui.session() as s:
    everything = adj.disagreement_queue(s, name, include_resolved=True)
    adjudicators = [a.username for a in list_accounts(s) if a.is_adjudicator and a.active]
states = {}
for item in everything:
    states[item.state] = states.get(item.state, 0) + 1
open_items = [i for i in everything if i.state == "open"]
cols = st.columns(4)
cols[0].metric("Open", states.get("open", 0))
cols[1].metric("With third reviewer", states.get("third_reviewer", 0))
cols[2].metric("For the meeting", states.get("discuss", 0))
cols[3].metric("Resolved by a lead or third reviewer", states.get("resolved", 0))

show = top[2].radio("Show", ["open", "discuss", "third_reviewer", "resolved"], horizontal=True, key="adj.show",
                    format_func=lambda v: {"open": "Open", "discuss": "Meeting list", "third_reviewer": "Third reviewer",
                                           "resolved": "Resolved"}[v])
items = [i for i in everything if i.state == show]
pairs = adj.pair_counts(items)
pair_options = ["(all)"] + [p for p, _ in pairs]
counts = dict(pairs)
pair = st.selectbox("Confused pair", pair_options, key="adj.pair",
                    format_func=lambda p: f"All ({len(items)})" if p == "(all)" else f"{p} ({counts[p]})")
if pair != "(all)":
    items = [i for i in items if i.pair == pair]
with st.expander("Consensus meeting: download the pending threads, import the decisions"):
    with ui.session() as s:
        cons = read_consensus(s, [name])
    st.caption(f"Round '{ui.esc(name)}': {ui.esc(cons.completeness()[0].sentence())} The CSV lists every sampled thread; fill in "
               "the category (and rationale, decided_by) of pending ones and import it back. Rows left empty stay "
               "pending; nothing is written if any row is wrong.")
    st.download_button("Download consensus CSV", frame_bytes(cons.frame(), "csv"), f"consensus-{rnd.id}.csv",
                       "text/csv", key="adj.export")
    upload = st.file_uploader("Decisions CSV (thread_id, category[, rationale, decided_by])", type=["csv"],
                              key="adj.import_file")
    if upload is not None and st.button("Import decisions", key="adj.import"):
        try:
            with ui.session() as s:
                done = adj.import_decisions_upload(s, upload.getvalue(), filename=upload.name, round_name=name,
                                                   actor=user.username)
        except AnnotatorError as exc:
            ui.flash(str(exc), "error")
        else:
            ui.flash(f"{done.recorded} decisions recorded, {done.unchanged} unchanged, {done.blank} rows left "
                     f"pending; {done.still_pending} threads still pending.")
        st.rerun()

if not items:
    st.success("Nothing here. " + ("Every disagreement of this round is settled." if show == "open" else ""))
    st.stop()

ids = [i.thread_id for i in items]
if st.session_state.get(K.ADJ_THREAD) not in ids:
    st.session_state[K.ADJ_THREAD] = ids[0]
by_id = {i.thread_id: i for i in items}
current = st.selectbox(
    f"Thread ({len(items)} in this view, most split first)", ids, key=K.ADJ_THREAD,
    format_func=lambda t: f"{by_id[t].external_id} · {by_id[t].pair} · {', '.join(by_id[t].assessment.reasons) or 'settled'}")
item = by_id[current]

with ui.session() as s:
    thread = get_thread(s, current)
    votes = adj.thread_votes(s, rnd.id, current)
    decision = adj.get_decision(s, rnd.id, current)
left, right = st.columns([3, 2], gap="large")
with left:
    badge = " <span class='badge'>truncated</span>" if thread.truncated else ""
    ui.thread_heading(thread.external_id, badge)
    with st.container(height=420, border=True):
        ui.show_thread(thread.text)
    st.markdown("**Independent labels**")
    st.dataframe([{"reviewer": v.reviewer, "category": v.category, "unsure": v.unsure, "note": v.note,
                   "seconds": v.seconds_spent} for v in votes], hide_index=True, width="stretch")
    if item.assessment.reasons:
        st.caption("Needs a lead because: " + ", ".join(item.assessment.reasons))
with right:
    if decision is not None and decision.status == "resolved":
        st.info(f"Current decision: **{ui.esc(decision.category)}** ({decision.provenance}, by {ui.esc(decision.decided_by)}). "
                "Recording again revises it; the audit log keeps both.")
    cats = [c["name"] for c in ui.categories(rnd.codebook_version_id)]

    def act(fn, message, **kwargs):
        try:
            with ui.session() as s2:
                fn(s2, round_id=rnd.id, thread_id=current, actor=user.username, **kwargs)
        except AnnotatorError as exc:
            ui.flash(ui.esc(str(exc)), "error")
            return
        ui.flash(message)

    with st.form(f"adj.decide.{rnd.id}.{current}", clear_on_submit=True):
        final = st.radio("Final label", cats, index=None, key=f"adj.final.{rnd.id}.{current}", format_func=ui.esc)
        rationale = st.text_area("Rationale", key=f"adj.rationale.{rnd.id}.{current}", height=80)
        if st.form_submit_button("Record final label", type="primary"):
            if final is None:
                ui.flash("Choose the final label first.", "warning")
            else:
                act(adj.resolve, f"Final label recorded: {ui.esc(final)}", category=final, rationale=rationale)
            st.rerun()
    with st.expander("Send to a third reviewer"):
        if adjudicators:
            who = st.selectbox("Adjudicator", adjudicators, key=f"adj.who.{current}")
            if st.button("Send", key=f"adj.send.{current}"):
                act(adj.send_to_third_reviewer, f"Sent to {ui.esc(who)}", adjudicator=who)
                st.rerun()
        else:
            st.caption("No adjudicator accounts: an admin marks an account as adjudicator on the Accounts page.")
    with st.expander("Discuss at the consensus meeting"):
        comment = st.text_input("What to discuss", key=f"adj.discuss.{current}")
        if st.button("Add to the meeting list", key=f"adj.discuss_btn.{current}"):
            act(adj.mark_discuss, "Added to the meeting list", comment=comment)
            st.rerun()
    with st.expander("Definition problem", expanded=bool(decision and decision.definition_problem)):
        flag = st.checkbox("The codebook's definitions do not settle this case",
                           value=bool(decision and decision.definition_problem), key=f"adj.defp.{current}")
        dcomment = st.text_area("Comment for the codebook", value=decision.definition_comment if decision else "",
                                key=f"adj.defc.{current}", height=70)
        if st.button("Save tag", key=f"adj.deftag.{current}"):
            act(adj.tag_definition_problem, "Tag saved", flag=flag, comment=dcomment)
            st.rerun()
    st.markdown("**Codebook**")
    ui.codebook_panel(rnd.codebook_version_id)
