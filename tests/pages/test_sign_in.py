"""Sign-in through the real router: wrong passwords, rate limiting, landing on home, surviving a reload,
signing out everywhere, and the optional single sign-on button."""

from __future__ import annotations

from sqlalchemy import select

from annotator.data.models import AuditEvent
from tests.pages.conftest import PASSWORD, click, make_user, open_page, signed_in, submit_form


def _sign_in(at, username: str, password: str):
    at.text_input(key="signin.username").input(username)
    at.text_input(key="signin.password").input(password)
    return submit_form(at, "Sign in")


def test_wrong_password_is_rejected_with_one_message(app, db):
    make_user(db, "rev1", password=PASSWORD)
    at = _sign_in(app(), "rev1", "not-the-password")
    assert [e.value for e in at.error] == ["wrong username or password"]
    assert not signed_in(at)
    assert "auth.token" not in at.session_state


def test_unknown_user_gets_the_same_message(app, db):
    make_user(db, "rev1", password=PASSWORD)
    at = _sign_in(app(), "nobody", "whatever-password")
    assert [e.value for e in at.error] == ["wrong username or password"]


BLOCKED = "too many failed sign-ins for this username from this computer"


def test_rate_limit_pauses_this_name_from_this_computer_after_five_failures(app, db):
    make_user(db, "rev1", password=PASSWORD)
    at = app()
    for _ in range(5):
        at = _sign_in(at, "rev1", "wrong-password")
        assert [e.value for e in at.error] == ["wrong username or password"]
    at = _sign_in(at, "rev1", PASSWORD)  # the right password no longer helps from here
    assert len(at.error) == 1 and at.error[0].value.startswith(BLOCKED)
    assert "ask an admin to unlock the account" in at.error[0].value
    assert not signed_in(at)
    failed = db.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_failed")).scalars().all()
    assert len(failed) == 5


def test_an_unknown_username_is_paused_with_the_same_message(app, db):
    make_user(db, "rev1", password=PASSWORD)
    at = app()
    for _ in range(5):
        at = _sign_in(at, "nobody", "wrong-password")
        assert [e.value for e in at.error] == ["wrong username or password"]
    at = _sign_in(at, "nobody", PASSWORD)
    assert len(at.error) == 1 and at.error[0].value.startswith(BLOCKED)  # nothing tells it from a real account


def test_a_nul_byte_in_the_username_is_one_clear_line(app, db):
    at = _sign_in(app(), "rev\x001", "whatever-password")
    assert [e.value for e in at.error] == ["a username or password cannot contain a NUL character"]
    assert not at.exception


def test_right_password_lands_on_home(app, db):
    make_user(db, "rev1", password=PASSWORD)
    at = _sign_in(app(), "rev1", PASSWORD)
    assert not at.exception and not at.error
    assert signed_in(at)
    assert at.title[0].value == "Welcome, Display rev1"
    assert at.session_state["auth.token"]


def test_token_survives_a_reload(app, db):
    make_user(db, "rev1", password=PASSWORD)
    first = _sign_in(app(), "rev1", PASSWORD)
    token = first.session_state["auth.token"]
    reloaded = app(token=token)  # a new browser session that only carries the token
    assert signed_in(reloaded)
    assert reloaded.title[0].value == "Welcome, Display rev1"


def test_a_forged_token_is_not_accepted(app, db):
    make_user(db, "rev1", password=PASSWORD)
    token = _sign_in(app(), "rev1", PASSWORD).session_state["auth.token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert not signed_in(app(token=forged))


def test_sign_out_invalidates_the_token_everywhere(app, db):
    user = make_user(db, "rev1", password=PASSWORD)
    tab_a = app(user)
    token = tab_a.session_state["auth.token"]
    tab_b = app(token=token)
    assert signed_in(tab_a) and signed_in(tab_b)
    tab_a = click(open_page(tab_a, "account.py"), "account.signout")
    assert not signed_in(tab_a)
    assert not signed_in(tab_b.run())  # the other tab's next interaction finds the session ended
    assert not signed_in(app(token=token))  # and the old token opens nothing


# --- single sign-on --------------------------------------------------------------------------------

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                 "client_id": "id", "client_secret": "secret",
                 "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}}


def test_no_sso_button_without_an_auth_section(app, db):
    at = app()
    assert not [b for b in at.button if b.key and b.key.startswith("signin.sso")]


def test_sso_button_shown_when_configured(app, db):
    at = app(run=False)
    at.secrets = AUTH
    at.run()
    assert at.button(key="signin.sso").label == "Sign in with single sign-on"


def test_sso_identity_maps_to_an_existing_account(app, db):
    make_user(db, "ada@hospital.example")
    at = app(run=False)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "ada@hospital.example", "preferred_username": "ada"}
    at.run()
    assert not signed_in(at)  # an identity alone does not sign in: the user continues explicitly
    at = click(at, "signin.sso_continue")
    assert signed_in(at)
    assert at.title[0].value == "Welcome, Display ada@hospital.example"
    assert db.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_sso")).scalars().first() is not None


def test_sso_matching_is_exact_case_included(app, db):
    make_user(db, "ada@hospital.example")
    at = app(run=False)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "Ada@Hospital.example"}
    at.run()
    at = click(at, "signin.sso_continue")
    assert not signed_in(at)
    assert [e.value for e in at.error] == [
        "no active account for 'Ada@Hospital.example': ask an admin to create one with exactly this username"]


def test_sso_identity_without_an_account_is_refused(app, db):
    make_user(db, "someone-else")
    at = app(run=False)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "stranger@hospital.example"}
    at.run()
    at = click(at, "signin.sso_continue")
    assert not signed_in(at)
    assert [e.value for e in at.error] == [
        "no active account for 'stranger@hospital.example': ask an admin to create one with exactly this username"]


def test_sso_service_matches_exactly_refuses_inactive_accounts_and_never_creates_one(db):
    import unicodedata

    import pytest

    from annotator.data.models import Account
    from annotator.errors import NotAllowed
    from annotator.services.accounts import account_for_token, update_account
    from annotator.services.admin import sso_identities, token_for_sso
    from tests.pages.conftest import SECRET

    make_user(db, "Bo@Hospital.example")
    with pytest.raises(NotAllowed, match="no active account for 'bo@hospital.example'"):
        token_for_sso(db, username="bo@hospital.example", secret=SECRET)  # another case is another name
    token = token_for_sso(db, username=" Bo@Hospital.example ", secret=SECRET)
    assert account_for_token(db, token, secret=SECRET).username == "Bo@Hospital.example"
    make_user(db, unicodedata.normalize("NFC", "José@hospital.example"))
    decomposed = unicodedata.normalize("NFD", "José@hospital.example")  # the same name, Unicode-decomposed
    assert account_for_token(db, token_for_sso(db, username=decomposed, secret=SECRET), secret=SECRET).username \
        == unicodedata.normalize("NFC", "José@hospital.example")
    update_account(db, username="Bo@Hospital.example", active=False, actor="test")
    assert account_for_token(db, token, secret=SECRET) is None  # deactivation ends the session
    with pytest.raises(NotAllowed, match="no active account for 'Bo@Hospital.example'"):
        token_for_sso(db, username="Bo@Hospital.example", secret=SECRET)
    with pytest.raises(NotAllowed):
        token_for_sso(db, username="new@hospital.example", secret=SECRET)
    assert len(db.execute(select(Account)).all()) == 2
    assert sso_identities({"email": "A@x.org", "preferred_username": "a@X.org", "name": "A"}) == ["A@x.org", "a@X.org"]
    assert sso_identities({"email": "", "preferred_username": "ada"}) == ["ada"]
    assert sso_identities({}) == []
