"""Sign in with a username and password (or single sign-on when configured)."""

import streamlit as st

from annotator import ui

st.title("annotator")
st.caption("What do our staff use the chat tool for? Sign in to label, adjudicate or report.")
with st.form("signin", border=True, enter_to_submit=True):
    username = st.text_input("Username", key="signin.username")
    password = st.text_input("Password", type="password", key="signin.password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    try:
        ui.sign_in(username, password)
    except Exception as exc:  # noqa: BLE001 - report_error re-raises anything that is not a user error
        ui.report_error(exc)
    else:
        st.rerun()
