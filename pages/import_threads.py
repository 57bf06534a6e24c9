"""Import threads (admins): upload an export (CSV, JSONL, XLSX or Parquet), optionally map its columns,
import it with a progress bar, and see every skipped row with its reason."""

import streamlit as st

from annotator import ui
from annotator.importing import FIELDS
from annotator.services import admin
from annotator.services.tables import frame_bytes

REPORT = "import.report"

user = ui.require_user("admin")
st.title("Import threads")
st.caption("Importing the same file again adds nothing: threads are matched on their thread id. "
           "Rows with problems are skipped and listed below (or, with *strict*, nothing is imported).")

with st.form("import.form"):
    upload = st.file_uploader("Thread export", type=["csv", "gz", "tsv", "jsonl", "ndjson", "xlsx", "parquet"],
                              key="import.file")
    with st.expander("Column mapping (when the export's column names differ)"):
        cols = st.columns(3)
        mapping = {field: cols[i % 3].text_input(field, key=f"import.map.{field}", placeholder=field)
                   for i, field in enumerate(FIELDS)}
    cols = st.columns(2)
    truncate_at = cols[0].number_input("Truncate texts longer than (characters)", min_value=100, step=1000,
                                       value=int(ui.settings().truncate_at), key="import.truncate")
    strict = cols[1].checkbox("Strict: import nothing if any row is bad", key="import.strict")
    go = st.form_submit_button("Import", type="primary")

if go:
    if upload is None:
        st.warning("Choose a file first.")
    else:
        bar = st.progress(0.0, text="Reading…")
        size = max(upload.size, 1)

        def progress(rows: int) -> None:
            bar.progress(min(0.99, rows * 200 / size), text=f"{rows:,} rows read…")  # ~200 bytes a row, a hint only

        try:
            report = admin.import_threads_upload(
                ui.engine(), upload.name, upload.getvalue(), mapping={k: v.strip() for k, v in mapping.items() if v.strip()},
                truncate_at=int(truncate_at), strict=strict, actor=user.username, on_progress=progress)
        except Exception as exc:  # noqa: BLE001 - report_error: user errors as one line, anything else calmly
            bar.empty()
            st.session_state.pop(REPORT, None)
            ui.report_error(exc)
        else:
            bar.progress(1.0, text="Done")
            st.session_state[REPORT] = (report.summary(), admin.problems_frame(report), report.file)

if REPORT in st.session_state:
    summary, problems, file = st.session_state[REPORT]
    st.success(ui.esc(summary))
    if len(problems):
        st.subheader(f"Skipped rows ({len(problems):,})")
        st.dataframe(problems, hide_index=True, width="stretch")
        st.download_button("Download skipped rows (CSV)", data=frame_bytes(problems, "csv"),
                           file_name=f"skipped-{file}.csv", mime="text/csv", key="import.skipped", on_click="ignore")
