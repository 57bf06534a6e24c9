"""Sign in with a username and password (or single sign-on when configured)."""

import streamlit as st

from annotator import ui

st.title("annotator")
st.caption("What do our staff use the chat tool for? Sign in to label, adjudicate or report.")
ui.show_flash()
with st.form("signin", border=True, enter_to_submit=True):
    username = st.text_input("Username", key="signin.username")
    password = st.text_input("Password", type="password", key="signin.password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    try:
        ui.sign_in(username, password)
    except Exception as exc:  # noqa: BLE001 - report_error shows user errors as one line, anything else calmly
        ui.report_error(exc)
    else:
        st.rerun()


# --- Optional single sign-on: shown only when .streamlit/secrets.toml has an [auth] section. ---
def _sso_configured() -> bool:
    try:
        return bool(st.secrets.get("auth"))
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is a FileNotFoundError)
        return False


def _sso_sign_in(names: list[str]) -> None:
    """Open the normal session for the first active account whose username is exactly an SSO identity."""
    from annotator.errors import AnnotatorError, NotAllowed

    refusal: Exception | None = None
    for name in names:
        try:
            ui.sign_in_sso(name)
        except AnnotatorError as exc:
            refusal = refusal or exc
            continue
        st.rerun()
    ui.report_error(refusal or NotAllowed("the identity provider sent no email or username"))


if _sso_configured():
    from annotator.services.admin import sso_identities

    st.divider()
    if not getattr(st.user, "is_logged_in", False):  # absent when Streamlit itself sees no [auth] section
        if st.button("Sign in with single sign-on", key="signin.sso"):
            st.login()
    else:
        identities = sso_identities(st.user.to_dict())
        if st.button(f"Continue as {ui.esc(identities[0]) if identities else 'your single sign-on account'}",
                     key="signin.sso_continue", type="primary"):
            _sso_sign_in(identities)
        if st.button("Use another single sign-on account", key="signin.sso_logout"):
            st.logout()
