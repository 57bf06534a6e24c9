"""Label threads: one at a time, keyboard first, blind to everyone else's labels and the model.

The thread, the categories, Unsure, the note and Submit are one widget that runs in the browser
(annotator/static/label_widget.js): a key selects at once, the next threads are sent ahead, and each
label travels to the server once. This page stores what the widget reports — after the router has
re-read the signed-in account from the database in this run — and then draws the widget again with
the reviewer's own queue and progress.
"""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import labeling
from annotator.ui import K

user = ui.require_user()
ui.compact_page()


def store_actions(user: ui.User) -> None:
    """The write path: store the widget's new actions in order, with the services' own checks.

    Each action is acknowledged to the widget right after its transaction commits, so an
    interrupted or repeated run never stores one twice and the widget never drops one.
    """
    raw = ui.widget_outbox(K.LABEL_WIDGET)
    instance = labeling.instance_of(raw)
    acked: dict = st.session_state.setdefault(K.LABEL_ACKED, {})
    notices: list = st.session_state.setdefault(K.LABEL_NOTICES, [])
    for action in labeling.parse_actions(raw):
        if action.seq <= acked.get(instance, 0):
            continue
        notice = None
        if action.type == "back":
            st.session_state.pop(K.LABEL_EDIT, None)
        elif action.type != "decide":
            with ui.session() as s:
                outcome = labeling.apply_action(s, action, reviewer_id=user.id, actor=user.username)
            notice = (outcome.kind, outcome.message)
            if action.type == "label" and outcome.ok and st.session_state.get(K.LABEL_EDIT) == action.thread_id:
                st.session_state.pop(K.LABEL_EDIT, None)
            if action.type == "post_reveal":
                st.session_state.pop(K.LABEL_REVEAL, None)
            if outcome.reveal_next:
                notice = reveal(action, outcome.message) or notice
        acked[instance] = action.seq
        if notice:
            notices.append({"instance": instance, "seq": action.seq, "kind": notice[0], "text": notice[1]})
    for old in list(acked)[:-8]:  # tabs long gone
        del acked[old]
    del notices[:-20]


def reveal(action: labeling.Action, saved: str) -> tuple[str, str] | None:
    """The reveal step after a new blind label: reveal (and lock) the model's label, if it has one."""
    try:
        with ui.session() as s:
            model = labeling.reveal_model_label(s, round_id=action.round_id, thread_id=action.thread_id,
                                                reviewer_id=user.id, actor=user.username)
    except AnnotatorError as exc:
        return "error", f"{saved}; the model's label could not be shown: {exc}"
    if model is not None:
        st.session_state[K.LABEL_REVEAL] = {"round_id": action.round_id, "thread_id": action.thread_id,
                                            "blind": action.category, "model": model}
    return None


store_actions(user)

with ui.session() as s:
    rounds = labeling.rounds_for_reviewer(s, user.id, include_closed=True)
if not rounds:
    st.title("Label")
    st.info("No rounds are assigned to you yet. A lead creates rounds on the Rounds page.")
    st.stop()

by_name = {r.name: r for r in rounds}
if st.session_state.get(K.LABEL_ROUND) not in by_name:
    open_rounds = [r for r in rounds if r.status == "open"]
    st.session_state[K.LABEL_ROUND] = (open_rounds or rounds)[0].name


def _round_option(name: str) -> str:
    r = by_name[name]
    due = f" · due {r.due_on:%d %b %Y}" if r.due_on else ""
    return f"Round {name} ({r.status}){due}"


top = st.columns([2, 3], vertical_alignment="center")
name = top[0].selectbox("Round", list(by_name), key=K.LABEL_ROUND, format_func=_round_option,
                        label_visibility="collapsed")
rnd = by_name[name]
closed = rnd.status != "open"

with ui.session() as s:
    version_id = labeling.round_version(s, rnd.round_id)
    queue: list[dict] = []
    if not closed:
        edit_id = st.session_state.get(K.LABEL_EDIT)
        ids = labeling.next_thread_ids(s, rnd.round_id, user.id, limit=ui.PREFETCH_THREADS)
        if edit_id:
            ids = [edit_id] + [i for i in ids if i != edit_id]
        threads = labeling.get_threads(s, ids)
        ids = [i for i in ids if i in threads]
        for tid in ids[: ui.prefetch_budget([threads[i].text for i in ids])]:
            mine = labeling.own_label(s, rnd.round_id, tid, user.id) if tid == edit_id else None
            queue.append(ui.widget_thread(threads[tid], rnd.round_id, mine=mine, editing=mine is not None))
    pending = st.session_state.get(K.LABEL_REVEAL)
    revealed = None
    if pending and pending["round_id"] == rnd.round_id and not closed:
        thread = labeling.get_thread(s, pending["thread_id"])
        revealed = {"thread": ui.widget_thread(thread, rnd.round_id), "blind": pending["blind"],
                    "model": pending["model"]}

top[1].caption("This round is closed: your labels are kept and can no longer change." if closed else
               "Keys work as soon as the thread shows; press <kbd>?</kbd> for the codebook.",
               unsafe_allow_html=True)
ui.labeling_widget(K.LABEL_WIDGET, {
    "mode": "label",
    "round": {"id": rnd.round_id, "name": rnd.name, "open": not closed, "reveal": bool(rnd.reveal_enabled)},
    "categories": ui.widget_categories(version_id),
    "queue": queue,
    "progress": {"done": rnd.done, "assigned": rnd.assigned},
    "reveal": revealed,
    "acked": st.session_state.get(K.LABEL_ACKED, {}),
    "notices": st.session_state.get(K.LABEL_NOTICES, []),
    "message": "This round is closed: your labels are kept and can no longer change." if closed else None,
    "done_message": "All threads of this round are labeled. Thank you! Backspace or Z takes back your last label; "
                    "your labels are listed below.",
})


def revisit(thread_id: int) -> None:
    st.session_state[K.LABEL_EDIT] = thread_id


with st.expander("My labels in this round"):
    find = st.text_input("Find one of your threads by id", key="label.find", placeholder="e.g. T0001015")
    with ui.session() as s:
        own = labeling.own_labels(s, rnd.round_id, user.id, limit=20, external_id=find.strip() or None)
    if not own:
        st.caption("None yet." if not find else "No label of yours for that thread id in this round.")
    elif not find:
        st.caption("Your 20 most recent labels; find older ones by thread id.")
    for lab, ext in own:
        cols = st.columns([2, 3, 4, 1])
        cols[0].text(ext)
        cols[1].text(lab.category + (" · unsure" if lab.unsure else ""))
        cols[2].text(lab.note or "—")
        if not closed and lab.revealed_model_category is None:
            cols[3].button("Revisit", key=f"label.revisit.{lab.thread_id}", on_click=revisit, args=(lab.thread_id,))
