"""Accounts (admins): who can sign in, with which role; create accounts, reset passwords, change a role,
(de)activate an account, mark adjudicators, and lift sign-in blocks. Password hashes are never shown."""

import streamlit as st

from annotator import ui
from annotator.services import accounts, admin

user = ui.require_user("admin")
st.title("Accounts")
ui.show_flash()


def _act(action, message: str, **kwargs) -> None:
    """Run an account service in its own session; show the outcome as one line."""
    try:
        with ui.session() as s:
            action(s, actor=user.username, **kwargs)
    except Exception as exc:  # noqa: BLE001 - report_error shows user errors as one line, anything else calmly
        ui.report_error(exc)
    else:
        ui.flash(message)
        st.rerun()


def _unlock(username: str) -> None:
    with ui.session() as s:
        n = accounts.unlock_account(s, username=username, actor=user.username)
    ui.flash(f"Sign-in to '{ui.esc(username)}' unlocked ({n} blocked address{'es' if n != 1 else ''} released).")


with ui.session() as s:
    table = admin.accounts_frame(s)
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"display_name": "name", "is_adjudicator": "adjudicator",
                            "failed_sign_ins": st.column_config.NumberColumn(
                                "failed sign-ins", help="Wrong passwords since the last successful sign-in"),
                            "blocked_addresses": st.column_config.NumberColumn(
                                "blocked", help="Addresses whose sign-ins to this account are paused now")})

left, right = st.columns(2, gap="large")
with left:
    st.subheader("New account")
    with st.form("accounts.new", clear_on_submit=True):
        username = st.text_input("Username (the SSO email, when single sign-on is used)", key="accounts.username")
        name = st.text_input("Display name", key="accounts.name")
        role = st.selectbox("Role", accounts.ROLES, key="accounts.role")
        adjudicator = st.checkbox("Adjudicator (may act as the third reviewer)", key="accounts.adjudicator")
        password = st.text_input("Password (at least 8 characters, not a common one)", type="password",
                                 key="accounts.password")
        if st.form_submit_button("Create account", type="primary"):
            _act(accounts.create_account, f"Account '{ui.esc(username.strip())}' created.", username=username,
                 role=role, password=password, display_name=name, is_adjudicator=adjudicator)

with right:
    names = list(table["username"])
    if not names:
        st.stop()
    st.subheader("Change an account")
    who = st.selectbox("Account", names, key="accounts.who")
    row = table[table["username"] == who].iloc[0]
    with st.form("accounts.edit"):
        new_role = st.selectbox("Role", accounts.ROLES, index=accounts.ROLES.index(row["role"]),
                                key=f"accounts.edit_role.{who}")
        active = st.checkbox("Active (may sign in)", value=bool(row["active"]), key=f"accounts.edit_active.{who}")
        adj = st.checkbox("Adjudicator", value=bool(row["is_adjudicator"]), key=f"accounts.edit_adjudicator.{who}")
        if st.form_submit_button("Save changes"):
            _act(admin.update_account_as, f"Account '{ui.esc(who)}' updated.", username=who, role=new_role,
                 active=active, is_adjudicator=adj)
    with st.form("accounts.reset", clear_on_submit=True):
        new_password = st.text_input(f"New password for {ui.esc(who)}", type="password", key="accounts.new_password")
        if st.form_submit_button("Reset password"):
            _act(accounts.set_password, f"Password of '{ui.esc(who)}' reset; their sessions are signed out.",
                 username=who, password=new_password)
    blocked = int(row["blocked_addresses"])
    st.button(f"Unlock sign-in ({blocked} blocked address{'es' if blocked != 1 else ''})", key="accounts.unlock",
              on_click=ui.guarded(_unlock, "admin"), args=(who,), disabled=not blocked and not row["failed_sign_ins"],
              help="Lift every pause on sign-ins to this account (after repeated wrong passwords from an address).")
