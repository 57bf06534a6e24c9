"""Import threads (admins): upload a thread export, a message log or a conversation file, map its columns,
preview what will be stored, import it with a progress bar, and see every skipped row with its reason."""

import streamlit as st

from annotator import ui
from annotator.importing import FIELDS, MESSAGE_FIELDS
from annotator.services import admin

REPORT = "import.report"
PREVIEW = "import.preview"
KIND = "import.kind"
KINDS = {"threads": "Threads: one row per thread", "messages": "Message log: one row per message"}

user = ui.require_user("admin")
st.title("Import threads")
st.caption("Importing the same file again adds nothing: threads are matched on their thread id. A thread whose text "
           "changed is reported (and replaced only with *update*, never once it has labels). Rows with problems are "
           "skipped and listed below (or, with *strict*, nothing is imported). Conversation files (OpenAI "
           "`messages` / ShareGPT `conversations`, .json or .jsonl) are recognised by themselves.")


def _new_file() -> None:
    """A new file: forget the previous file's mapping, sender values, preview and report."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and (key.startswith("import.map.") or key.startswith("import.senders.")):
            del st.session_state[key]
    st.session_state.pop(PREVIEW, None)
    st.session_state.pop(REPORT, None)


upload = st.file_uploader("File", type=["csv", "gz", "bz2", "xz", "tsv", "jsonl", "ndjson", "json", "xlsx", "parquet"],
                          key="import.file", on_change=_new_file)
kind = st.radio("The file holds", list(KINDS), format_func=KINDS.get, key=KIND, horizontal=True)
messages = kind == "messages"
fields = MESSAGE_FIELDS if messages else FIELDS
with st.expander("Column mapping (when the file's column names differ)", expanded=messages):
    cols = st.columns(4)
    mapping = {field: cols[i % 4].text_input(field, key=f"import.map.{field}", placeholder=field)
               for i, field in enumerate(fields)}
    if messages:
        st.caption("Each conversation becomes one thread: its user messages in order of *position* (a message "
                   "number or timestamp), each starting with `user: `, one per line.")
        sc = st.columns(3)
        senders = (sc[0].text_input("Sender values meaning the user", key="import.senders.user",
                                    placeholder="user, human"),
                   sc[1].text_input("... the assistant", key="import.senders.assistant",
                                    placeholder="assistant, gpt, bot, model, ai, chatbot"),
                   sc[2].text_input("... system or tools", key="import.senders.system",
                                    placeholder="system, developer, tool, function"))
        keep_assistant = st.checkbox("Keep the assistant's replies in the text", key="import.keep_assistant")
    else:
        senders, keep_assistant = (None, None, None), False
cols = st.columns(3)
truncate_at = cols[0].number_input("Truncate texts longer than (characters)", min_value=100, step=1000,
                                   value=int(ui.settings().truncate_at), key="import.truncate")
strict = cols[1].checkbox("Strict: import nothing if any row is bad", key="import.strict")
update_changed = cols[2].checkbox("Update: replace changed texts of threads without labels", key="import.update")
buttons = st.columns([1, 1, 4])
preview = buttons[0].button("Preview", key="import.preview_button")
go = buttons[1].button("Import", type="primary", key="import.go")


def _run(dry_run: bool, progress=None):
    return admin.import_threads_upload(
        ui.engine(), upload.name, upload.getvalue(),
        mapping={k: v.strip() for k, v in mapping.items() if v and v.strip()}, truncate_at=int(truncate_at),
        strict=strict, actor=user.username, on_progress=progress, messages=messages,
        senders=tuple((s or "").strip() or None for s in senders), keep_assistant=keep_assistant,
        update_changed=update_changed, dry_run=dry_run)


if (preview or go) and upload is None:
    st.warning("Choose a file first.")
elif preview:
    try:
        with st.spinner("Reading the whole file…"):
            st.session_state[PREVIEW] = _run(True)
    except Exception as exc:  # noqa: BLE001 - report_error re-raises anything that is not a user error
        st.session_state.pop(PREVIEW, None)
        ui.report_error(exc)
elif go:
    bar = st.progress(0.0, text="Reading…")
    size = max(upload.size, 1)

    def progress(rows: int) -> None:
        bar.progress(min(0.99, rows * 200 / size), text=f"{rows:,} rows read…")  # ~200 bytes a row, a hint only

    try:
        report = _run(False, progress)
    except Exception as exc:  # noqa: BLE001 - report_error re-raises anything that is not a user error
        bar.empty()
        st.session_state.pop(REPORT, None)
        ui.report_error(exc)
    else:
        bar.progress(1.0, text="Done")
        st.session_state.pop(PREVIEW, None)
        st.session_state[REPORT] = report

if PREVIEW in st.session_state:
    rep = st.session_state[PREVIEW]
    tables = admin.preview_tables(rep)
    st.subheader("Preview (nothing written yet)")
    mapped = ", ".join(f"{k} = {v}" for k, v in rep.mapping.items()) or "columns named as the fields"
    st.text(f"Format: {rep.fmt} · {rep.mode} · mapping: {mapped}")
    st.info(ui.esc(rep.summary()))
    for note in rep.notes:
        st.caption(f"Note: {ui.esc(note)}")
    st.markdown("**First threads as they will be stored**")
    st.dataframe(tables["sample"], hide_index=True, width="stretch")
    if len(tables["reasons"]):
        st.markdown("**Skipped rows by reason**")
        st.dataframe(tables["reasons"], hide_index=True)
    if len(tables["changed"]):
        st.markdown("**Threads whose text changed** (kept unless *update* is ticked; never replaced once labeled)")
        st.dataframe(tables["changed"], hide_index=True)

if REPORT in st.session_state:
    rep = st.session_state[REPORT]
    st.success(ui.esc(rep.summary()))
    for note in rep.notes:
        st.caption(f"Note: {ui.esc(note)}")
    problems = admin.problems_frame(rep)
    if rep.changed:
        tables = admin.preview_tables(rep)
        st.subheader(f"Changed texts ({len(rep.changed):,})")
        st.dataframe(tables["changed"], hide_index=True)
    if len(problems):
        st.subheader(f"Skipped rows ({len(problems):,})")
        st.dataframe(problems, hide_index=True, width="stretch")
        st.download_button("Download skipped rows (CSV)", data=admin.problems_csv_bytes(rep),
                           file_name=f"skipped-{rep.file}.csv", mime="text/csv", key="import.skipped", on_click="ignore")
