"""Label threads: one at a time, keyboard first, blind to everyone else's labels and the model."""

import time

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.services import labeling
from annotator.ui import K

user = ui.require_user()
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
top = st.columns([3, 2])
with top[0]:
    name = st.selectbox("Round", list(by_name), key=K.LABEL_ROUND,
                        format_func=lambda n: f"{n} ({by_name[n].status})")
rnd = by_name[name]
with ui.session() as s:
    done, assigned = rnd.done, rnd.assigned  # counted with the round list above, after any submit callback
    edit_id = st.session_state.get(K.LABEL_EDIT)
    thread_id = edit_id if edit_id else labeling.next_thread_id(s, rnd.round_id, user.id)
    thread = labeling.get_thread(s, thread_id) if thread_id else None
    mine = labeling.own_label(s, rnd.round_id, thread_id, user.id) if thread_id else None
    version_id = labeling.round_version(s, rnd.round_id)
with top[1]:
    st.progress(done / assigned if assigned else 0.0, text=f"{done} / {assigned} labeled")
ui.show_flash()
closed = rnd.status != "open"
if closed:
    st.info("This round is closed: your labels are kept and can no longer change.")


def choose(category: str) -> None:
    st.session_state[K.LABEL_CHOICE] = category


def toggle_unsure() -> None:
    st.session_state[K.LABEL_UNSURE] = not st.session_state.get(K.LABEL_UNSURE, False)


def submit(round_id: int, tid: int) -> None:
    choice = st.session_state.get(K.LABEL_CHOICE)
    if not choice:
        ui.flash("Choose a category first (keys shown on the buttons).", "warning")
        return
    started = st.session_state.get(K.LABEL_STARTED, {}).get((round_id, tid))
    seconds = round(time.monotonic() - started, 1) if started else None
    try:
        with ui.session() as s2:
            _, outcome = labeling.submit_label(
                s2, round_id=round_id, thread_id=tid, reviewer_id=user.id, category=choice,
                note=st.session_state.get(f"label.note.{round_id}.{tid}", ""),
                unsure=st.session_state.get(K.LABEL_UNSURE, False), seconds_spent=seconds, actor=user.username)
    except AnnotatorError as exc:
        ui.flash(str(exc), "error")
        return
    ui.flash({"created": f"Saved: {choice}", "changed": f"Changed to {choice}",
              "unchanged": "Already saved"}[outcome])
    for key in (K.LABEL_CHOICE, K.LABEL_UNSURE, K.LABEL_EDIT):
        st.session_state.pop(key, None)
    if rnd.reveal_enabled and outcome == "created":
        st.session_state[K.LABEL_REVEAL] = tid


def post_reveal(round_id: int, tid: int, category: str | None) -> None:
    try:
        if category is not None:
            with ui.session() as s2:
                labeling.record_post_reveal(s2, round_id=round_id, thread_id=tid, reviewer_id=user.id,
                                            category=category, actor=user.username)
    except AnnotatorError as exc:
        ui.flash(str(exc), "error")
    st.session_state.pop(K.LABEL_REVEAL, None)


def skip(round_id: int, tid: int) -> None:
    try:
        with ui.session() as s2:
            labeling.skip_thread(s2, round_id=round_id, thread_id=tid, reviewer_id=user.id, actor=user.username)
    except AnnotatorError as exc:
        ui.flash(str(exc), "error")
        return
    for key in (K.LABEL_CHOICE, K.LABEL_UNSURE):
        st.session_state.pop(key, None)
    ui.flash("Skipped: the thread moved to the end of your queue.", "info")


def stop_editing() -> None:
    for key in (K.LABEL_CHOICE, K.LABEL_UNSURE, K.LABEL_EDIT):
        st.session_state.pop(key, None)


reveal_tid = st.session_state.get(K.LABEL_REVEAL)
if reveal_tid and rnd.reveal_enabled and not closed:
    with ui.session() as s:
        model_label = labeling.reveal_model_label(s, round_id=rnd.round_id, thread_id=reveal_tid, reviewer_id=user.id,
                                                  actor=user.username)
        blind = labeling.own_label(s, rnd.round_id, reveal_tid, user.id)
    if model_label is None:
        st.session_state.pop(K.LABEL_REVEAL, None)
    else:
        st.subheader("Reveal step")
        st.write(f"Your blind label **{blind.category}** is stored and locked. The model labeled this thread "
                 f"**{model_label}**. Record your label after seeing it (it may be the same as before).")
        grid = st.columns(3)
        for i, cat in enumerate(ui.categories(version_id)):
            grid[i % 3].button(cat["name"], key=f"label.post.{i}", on_click=post_reveal,
                               args=(rnd.round_id, reveal_tid, cat["name"]), width="stretch")
        st.button("Continue without a second label", key="label.post.skip", on_click=post_reveal,
                  args=(rnd.round_id, reveal_tid, None))
        st.stop()

if thread is None:
    st.success("All threads of this round are labeled. Thank you! You can still revisit your labels below.")
else:
    started = st.session_state.setdefault(K.LABEL_STARTED, {})
    started.setdefault((rnd.round_id, thread.id), time.monotonic())
    if mine is not None and K.LABEL_CHOICE not in st.session_state:
        st.session_state[K.LABEL_CHOICE] = mine.category
        st.session_state[K.LABEL_UNSURE] = mine.unsure
    choice = st.session_state.get(K.LABEL_CHOICE)
    left, right = st.columns([3, 2], gap="large")
    with left:
        badges = f"<span class='badge'>{thread.char_count:,} characters</span>"
        if thread.truncated:
            badges += f"<span class='badge'>truncated at {len(thread.text):,} characters</span>"
        if mine is not None:
            badges += "<span class='badge'>editing your label</span>"
        ui.thread_heading(thread.external_id, badges)
        with st.container(height=520, border=True):
            ui.show_thread(thread.text)
    with right:
        st.markdown("**Category**")
        cats = ui.categories(version_id)
        grid = st.columns(2)
        for i, cat in enumerate(cats):
            with grid[i % 2]:
                st.button(cat["name"], key=f"label.cat.{i}", shortcut=ui.category_key(i), on_click=choose,
                          args=(cat["name"],), type="primary" if choice == cat["name"] else "secondary",
                          disabled=closed, width="stretch", wrap=True)
        unsure = st.session_state.get(K.LABEL_UNSURE, False)
        st.button(("☑" if unsure else "☐") + " Unsure", key="label.unsure_btn", shortcut="U", on_click=toggle_unsure,
                  disabled=closed)
        st.text_input("Note (optional)", key=f"label.note.{rnd.round_id}.{thread.id}",
                      value=mine.note if mine is not None else "", disabled=closed,
                      placeholder="Why, or what made it hard")
        actions = st.columns(2)
        actions[0].button("Submit", key="label.submit", type="primary", shortcut="Ctrl+Enter", on_click=submit,
                          args=(rnd.round_id, thread.id), disabled=closed or not choice, width="stretch")
        if mine is None:
            actions[1].button("Skip", key="label.skip", shortcut="S", on_click=skip, args=(rnd.round_id, thread.id),
                              disabled=closed, width="stretch")
        else:
            actions[1].button("Back to queue", key="label.back", on_click=stop_editing, width="stretch")
        st.caption(f"Selected: **{choice or '—'}**{' · unsure' if unsure else ''}")
        st.caption("Keys: <kbd>1</kbd>…<kbd>0</kbd> and the letters shown pick a category · <kbd>U</kbd> unsure · "
                   "<kbd>Ctrl</kbd>+<kbd>Enter</kbd> submit · <kbd>S</kbd> skip. Keys do nothing while you type a note.",
                   unsafe_allow_html=True)
        st.markdown("**Codebook**")
        ui.codebook_panel(version_id)

with st.expander("My labels in this round"):
    find = st.text_input("Find one of your threads by id", key="label.find", placeholder="e.g. T0001015")
    with ui.session() as s:
        own = labeling.own_labels(s, rnd.round_id, user.id, limit=20, external_id=find.strip() or None)
    if not own:
        st.caption("None yet." if not find else "No label of yours for that thread id in this round.")
    elif not find:
        st.caption("Your 20 most recent labels; find older ones by thread id.")
    for lab, ext in own:
        cols = st.columns([2, 3, 1])
        cols[0].write(ext)
        cols[1].write(lab.category + (" · unsure" if lab.unsure else ""))
        if not closed:
            cols[2].button("Revisit", key=f"label.revisit.{lab.thread_id}",
                           on_click=lambda t=lab.thread_id: (stop_editing(), st.session_state.__setitem__(K.LABEL_EDIT, t)))
