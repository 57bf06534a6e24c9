"""Third review: an adjudicator decides threads a lead sent them; their decision is final.

The same keyboard widget as the label page (annotator/static/label_widget.js): the thread stays in
view, the categories keep their keys ("1 ·" is the key 1), N types a rationale, Enter records the
final label, and the next waiting thread is already there. The reviewers' competing categories are
marked without names or counts. Decisions are stored after the router re-read the signed-in
account in this run.
"""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import adjudication as adj
from annotator.services import labeling
from annotator.ui import K

user = ui.require_user()
if not user.is_adjudicator:
    st.title("Third review")
    st.error("Not allowed: this page is for adjudicator accounts.")
    st.stop()
ui.compact_page()


def store_decisions(user: ui.User) -> None:
    """The write path: record the widget's final labels in order, each acknowledged after its commit."""
    raw = ui.widget_outbox(K.THIRD_WIDGET)
    instance = labeling.instance_of(raw)
    acked: dict = st.session_state.setdefault(K.THIRD_ACKED, {})
    notices: list = st.session_state.setdefault(K.THIRD_NOTICES, [])
    for action in labeling.parse_actions(raw):
        if action.seq <= acked.get(instance, 0):
            continue
        if action.type == "decide":
            with ui.session() as s:
                try:
                    adj.third_reviewer_decide(s, round_id=action.round_id, thread_id=action.thread_id,
                                              adjudicator_id=user.id, category=action.category,
                                              rationale=action.note, actor=user.username)
                    notice = ("ok", f"Recorded: {action.category}")
                except AnnotatorError as exc:
                    s.rollback()
                    notice = ("error", f"Not recorded: {exc}")
            notices.append({"instance": instance, "seq": action.seq, "kind": notice[0], "text": notice[1]})
        acked[instance] = action.seq
    for old in list(acked)[:-8]:
        del acked[old]
    del notices[:-20]


store_decisions(user)

with ui.session() as s:
    waiting = adj.third_review_queue(s, user.id)
    queue: list[dict] = []
    version_id = None
    if waiting:
        version_id = waiting[0][0].codebook_version_id
        same = [(r, d) for r, d, _ in waiting if r.codebook_version_id == version_id][: ui.PREFETCH_THREADS]
        threads = labeling.get_threads(s, [d.thread_id for _, d in same])
        same = [(r, d) for r, d in same if d.thread_id in threads]
        for r, d in same[: ui.prefetch_budget([threads[d.thread_id].text for _, d in same])]:
            options = adj.anonymous_options(s, r.id, d.thread_id, seed=d.id)
            queue.append(ui.widget_thread(threads[d.thread_id], r.id, options=options,
                                          caption=f"round {r.name} · the reviewers' choices are marked •"))

ui.labeling_widget(K.THIRD_WIDGET, {
    "mode": "decide",
    "round": {"id": waiting[0][0].id if waiting else 0, "name": waiting[0][0].name if waiting else "", "open": True,
              "reveal": False},
    "categories": ui.widget_categories(version_id) if version_id else [],
    "queue": queue,
    "progress": {"waiting": len(waiting)},
    "reveal": None,
    "acked": st.session_state.get(K.THIRD_ACKED, {}),
    "notices": st.session_state.get(K.THIRD_NOTICES, []),
    "message": None if waiting else "Nothing is waiting for you.",
    "done_message": "Nothing else is waiting for you.",
})
