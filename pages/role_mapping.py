"""Roles and roster (admins): which job title is a clinician and which SOC major group it belongs to,
unmapped titles first; the staff roster that gives user ids a job title and department."""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.roles import ROLE_GROUPS, SOC_MAJOR_GROUPS, soc_label
from annotator.services import admin
from annotator.services import roles as role_service

TITLE = "roles.title"
UNKNOWN = "(unknown)"

user = ui.require_user("admin")
st.title("Roles and roster")
ui.show_flash()
st.caption("The dashboard's role groups and SOC groups come from this table. Titles nobody has mapped yet use a "
           "suggestion: clinician as in the study (physicians, advanced practice providers, CNM, CNP, CNS, CRNA; "
           "registered nurses are non-clinicians) and a 2018 SOC major group guessed from the title's words.")


def _save(title: str) -> None:
    group = st.session_state.get("roles.group")
    soc = st.session_state.get("roles.soc")
    try:
        with ui.session() as s:
            role_service.save_role_mappings(s, [{"title": title, "role_group": None if group == UNKNOWN else group,
                                                 "soc_group": None if soc == UNKNOWN else soc}],
                                            actor=user.username)
    except AnnotatorError as exc:
        ui.flash(str(exc), "error")
    else:
        ui.flash(f"Saved: '{title}' is {group}, {soc_label(None if soc == UNKNOWN else soc)}.")


def _reset(title: str) -> None:
    with ui.session() as s:
        role_service.reset_role_mapping(s, [title], actor=user.username)
    ui.flash(f"'{title}' is back to the suggested groups.")


with ui.session() as s:
    titles = role_service.role_titles(s)
    roster_entries, roster_users = role_service.roster_count(s)
unmapped = int((~titles["mapped"]).sum()) if len(titles) else 0
m = st.columns(3)
m[0].metric("Job titles", f"{len(titles):,}")
m[1].metric("Not mapped yet", f"{unmapped:,}", help="They use the suggested groups until an admin saves them.")
m[2].metric("Roster", f"{roster_users:,} users", help=f"{roster_entries:,} roster entries")

st.subheader("Job titles")
if not len(titles):
    st.info("No job titles yet: import threads with a role column, or a roster.")
else:
    shown = titles.assign(soc_group=titles["soc_group"].map(soc_label),
                          status=titles["mapped"].map({True: "mapped", False: "suggested"}))
    st.dataframe(shown[["title", "status", "role_group", "soc_group", "threads", "staff"]], hide_index=True,
                 width="stretch")
    with st.container(border=True):
        st.markdown("**Map a job title**")
        options = list(titles["title"])
        labels = {t: f"{t} ({'mapped' if m else 'not mapped yet'})" for t, m in zip(titles["title"], titles["mapped"])}
        title = st.selectbox("Job title (unmapped first)", options, format_func=labels.get, key=TITLE)
        row = titles[titles["title"] == title].iloc[0]
        group_options = [*ROLE_GROUPS, UNKNOWN]
        soc_options = [*SOC_MAJOR_GROUPS, UNKNOWN]
        c = st.columns(2)
        c[0].selectbox("Role group", group_options, index=group_options.index(row["role_group"] or UNKNOWN),
                       key="roles.group")
        c[1].selectbox("SOC major group (2018)", soc_options, index=soc_options.index(row["soc_group"] or UNKNOWN),
                       format_func=lambda code: soc_label(code) if code != UNKNOWN else UNKNOWN, key="roles.soc")
        b = st.columns([1, 1, 4])
        b[0].button("Save", type="primary", key="roles.save", on_click=_save, args=(title,))
        b[1].button("Back to suggestion", key="roles.reset", on_click=_reset, args=(title,), disabled=not row["mapped"])

with st.expander("Import or export the mapping (CSV: title, role_group, soc_group)"):
    with ui.session() as s:
        data = admin.role_mapping_csv(s)
    st.download_button("Download mapping (CSV)", data, "role-mapping.csv", "text/csv", key="roles.download",
                       on_click="ignore")
    mapping_file = st.file_uploader("Mapping file", type=["csv", "xlsx"], key="roles.mapping_file")
    if st.button("Import mapping", key="roles.import_mapping"):
        if mapping_file is None:
            st.warning("Choose a file first.")
        else:
            try:
                with ui.session() as s:
                    n = admin.import_role_mapping_upload(s, mapping_file.name, mapping_file.getvalue(),
                                                         actor=user.username)
            except Exception as exc:  # noqa: BLE001
                ui.report_error(exc)
            else:
                ui.flash(f"{mapping_file.name}: {n} job titles added or changed.")
                st.rerun()

with st.expander("Import a staff roster (user_id, job_title, department, optional start_date and end_date)"):
    st.caption("Every thread of a user in the roster gets the job title and department valid at the thread's date; "
               "later thread imports use the roster too. A user may have several rows only for non-overlapping "
               "dates.")
    roster_file = st.file_uploader("Roster file", type=["csv", "xlsx", "parquet", "jsonl"], key="roles.roster_file")
    if st.button("Import roster", key="roles.import_roster"):
        if roster_file is None:
            st.warning("Choose a file first.")
        else:
            try:
                with ui.session() as s:
                    rep = admin.import_roster_upload(s, roster_file.name, roster_file.getvalue(), actor=user.username)
            except Exception as exc:  # noqa: BLE001
                ui.report_error(exc)
            else:
                ui.flash(rep.summary())
                st.rerun()
