"""The signed-in user's own account: change password, sign out of this browser or everywhere."""

import streamlit as st

from annotator import ui
from annotator.services import accounts

user = ui.require_user()
st.title("My account")
st.write(f"Signed in as **{ui.esc(user.username)}** ({user.role}).")
with st.form("account.password"):
    current = st.text_input("Current password", type="password")
    new = st.text_input("New password (at least 8 characters, not a common one)", type="password")
    if st.form_submit_button("Change password"):
        try:
            with ui.session() as s:
                accounts.change_own_password(s, username=user.username, current=current, new=new)
            ui.flash("Password changed. Please sign in again.")
            ui.sign_out(user)
            st.rerun()
        except Exception as exc:  # noqa: BLE001 - report_error shows user errors as one line, anything else calmly
            ui.report_error(exc)
st.divider()
cols = st.columns([1, 1, 3])
if cols[0].button("Sign out", key="account.signout_here", help="Sign out of this browser only."):
    ui.sign_out(user, everywhere=False)
    st.rerun()
if cols[1].button("Sign out everywhere", type="primary", key="account.signout",
                  help="End your sessions in every browser and tab, on every app server."):
    ui.sign_out(user)
    st.rerun()
