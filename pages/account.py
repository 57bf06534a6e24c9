"""The signed-in user's own account: change password, sign out everywhere."""

import streamlit as st

from annotator import ui
from annotator.services import accounts

user = ui.require_user()
st.title("My account")
st.write(f"Signed in as **{user.username}** ({user.role}).")
with st.form("account.password"):
    current = st.text_input("Current password", type="password")
    new = st.text_input("New password (at least 8 characters)", type="password")
    if st.form_submit_button("Change password"):
        try:
            with ui.session() as s:
                accounts.change_own_password(s, username=user.username, current=current, new=new)
            ui.flash("Password changed. Please sign in again.")
            ui.sign_out(user)
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            ui.report_error(exc)
st.divider()
if st.button("Sign out everywhere", type="primary", key="account.signout"):
    ui.sign_out(user)
    st.rerun()
