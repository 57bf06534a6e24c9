"""The one guard every button callback goes through, driven like the attack: a tab is open on a page, then
(in another tab or by an admin) the session ends, the account is deactivated or demoted; the old tab's
next click must change nothing. Also: the plain "Sign out" beside "Sign out everywhere", the page
error boundary (a calm message, never a traceback), and Streamlit's error details switched off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotator.data.models import AlertRule, AuditEvent, CandidateExample, CandidateVote, Round
from annotator.services import accounts
from annotator.services.codebook import get_version
from tests.pages.conftest import click, open_page, signed_in, token_for

ENDED = "Your session has ended (signed out, or the account was changed). Nothing was saved: sign in again."


def _round(db, name):
    db.expire_all()
    return db.execute(select(Round).where(Round.name == name)).scalar_one()


def _audited(db, action) -> list[AuditEvent]:
    db.expire_all()
    return list(db.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def _end(db, world, how: str) -> None:
    """What happens elsewhere while the lead's tab stays open."""
    if how == "signed out everywhere":
        accounts.sign_out_everywhere(db, username=world.lead.username)
    elif how == "deactivated":
        accounts.update_account(db, username=world.lead.username, active=False, actor=world.admin.username)
    else:  # demoted to reviewer
        accounts.update_account(db, username=world.lead.username, role="reviewer", actor=world.admin.username)


@pytest.mark.parametrize("how", ["signed out everywhere", "deactivated", "demoted"])
def test_a_stale_lead_tab_cannot_close_a_round(app, db, world, how):
    at = open_page(app(world.lead), "rounds.py")
    assert at.button(key="rounds.close").label == "Close round"
    _end(db, world, how)
    at = click(at, "rounds.close")
    assert _round(db, world.round_name).status == "open"
    assert not _audited(db, "round_closed")
    if how == "demoted":  # still signed in, as a reviewer now: told why, and the page is off limits
        assert signed_in(at)
        assert any(e.value.startswith("Not allowed") for e in at.error)
    else:
        assert not signed_in(at)
        assert [w.value for w in at.warning] == [ENDED]


def test_the_same_tab_acts_while_the_account_is_unchanged(app, db, world):
    at = click(open_page(app(world.lead), "rounds.py"), "rounds.close")
    assert _round(db, world.round_name).status == "closed"
    assert [s.value for s in at.success] == [f"Round '{world.round_name}' is closed."]


@pytest.mark.parametrize("how", ["signed out everywhere", "deactivated", "demoted"])
def test_a_stale_dashboard_tab_cannot_change_alert_rules(app, db, world, how):
    from annotator.services.alerts import create_rule

    rule = create_rule(db, name="spike", category="Coding", baseline_periods=4, min_count=1, actor="test")
    at = open_page(app(world.lead), "dashboard.py")
    _end(db, world, how)
    at = click(at, f"dash.rule.delete.{rule.id}")
    db.expire_all()
    assert db.get(AlertRule, rule.id) is not None


def test_a_reviewer_tab_signed_out_elsewhere_cannot_vote_for_a_candidate(app, db, world):
    version = get_version(db)
    cand = CandidateExample(codebook_version_id=version.id, category="Coding", text="a synthetic example", source="llm")
    db.add(cand)
    db.commit()
    tab = open_page(app(world.reviewer), "candidates.py")
    tab.selectbox(key="candidates.category").set_value("Coding")
    tab = tab.run()
    accounts.sign_out_everywhere(db, username=world.reviewer.username)
    tab = click(tab, f"candidates.vote.{cand.id}")
    db.expire_all()
    assert db.execute(select(CandidateVote)).first() is None
    assert not signed_in(tab)


def test_a_stale_admin_tab_cannot_unlock_an_account(app, db, world):
    from annotator.errors import NotAllowed

    accounts.set_password(db, username="rev1", password="violet-harbour-7", actor="test")
    for _ in range(5):
        with pytest.raises(NotAllowed):
            accounts.authenticate(db, username="rev1", password="nope-nope", client="10.9.9.9")
    at = open_page(app(world.admin), "accounts.py")
    at.selectbox(key="accounts.who").set_value("rev1")
    at = at.run()
    assert at.button(key="accounts.unlock").label == "Unlock sign-in (1 blocked address)"
    accounts.update_account(db, username=world.admin.username, role="lead", actor="another-admin")
    at = click(at, "accounts.unlock")
    assert accounts.blocked_counts(db) == {"rev1": 1}
    assert not _audited(db, "unlock_account")


def test_an_admin_unlocks_an_account_on_the_accounts_page(app, db, world):
    from annotator.errors import NotAllowed

    accounts.set_password(db, username="rev1", password="violet-harbour-7", actor="test")
    for _ in range(5):
        with pytest.raises(NotAllowed):
            accounts.authenticate(db, username="rev1", password="nope-nope", client="10.9.9.9")
    at = open_page(app(world.admin), "accounts.py")
    table = at.dataframe[0].value.set_index("username")
    assert (table.at["rev1", "failed_sign_ins"], table.at["rev1", "blocked_addresses"]) == (5, 1)
    at.selectbox(key="accounts.who").set_value("rev1")
    at = click(at.run(), "accounts.unlock")
    assert [s.value for s in at.success] == ["Sign-in to 'rev1' unlocked (1 blocked address released)."]
    assert accounts.blocked_counts(db) == {}
    assert accounts.authenticate(db, username="rev1", password="violet-harbour-7", client="10.9.9.9").username == "rev1"


def test_an_empty_password_is_refused_when_an_admin_creates_an_account(app, db, world):
    from tests.pages.conftest import submit_form

    at = open_page(app(world.admin), "accounts.py")
    at.text_input(key="accounts.username").input("nopass")
    at = submit_form(at, "Create account")
    assert [e.value for e in at.error] == ["a password is required (at least 8 characters)"]
    assert accounts.get_account(db, "nopass") is None
    assert not at.success


def test_plain_sign_out_ends_this_browser_only(app, db, world):
    here = app(world.reviewer)
    elsewhere_token = token_for(world.reviewer)
    assert [b.label for b in here.sidebar.button] == ["Sign out", "Sign out everywhere"]
    here = click(here, "app.signout")
    assert not signed_in(here)
    assert signed_in(app(token=elsewhere_token))  # another browser stays signed in
    events = _audited(db, "sign_out")
    assert [e.detail for e in events] == [{"scope": "browser"}]


def test_sign_out_everywhere_from_the_sidebar(app, db, world):
    here = app(world.reviewer)
    elsewhere = app(token=token_for(world.reviewer))
    here = click(here, "app.signout_all")
    assert not signed_in(here)
    assert not signed_in(elsewhere.run())


def test_the_cookie_is_set_through_the_http_route_not_by_page_script(app, db, world):
    """The sign-in hands a one-time code to the page; the page script never writes document.cookie."""
    from tests.pages.conftest import PASSWORD, submit_form

    accounts.set_password(db, username="rev1", password=PASSWORD, actor="test")
    at = app()
    at.text_input(key="signin.username").input("rev1")
    at.text_input(key="signin.password").input(PASSWORD)
    at = submit_form(at, "Sign in")
    scripts = [h.proto.body for h in at.get("html") if "<script" in h.proto.body]
    assert len(scripts) == 1
    assert "document.cookie" not in scripts[0] and "/_annotator/session" in scripts[0]
    assert at.session_state["auth.token"] not in scripts[0]


def test_an_unexpected_error_is_a_calm_message_without_a_traceback(app, db, world, monkeypatch, caplog):
    from annotator.services import status as status_service

    private = " ".join(["a", "private", "thread", "text"])  # only in the error's message, never in source code

    def broken(session):
        raise RuntimeError(f"SELECT text FROM thread WHERE note = '{private}'")

    monkeypatch.setattr(status_service, "status", broken)
    at = app(world.lead)
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Something went wrong and nothing was changed.")
    assert private not in at.error[0].value
    assert private not in caplog.text and "RuntimeError" in caplog.text


def test_streamlit_shows_no_error_details(app, db, world):
    import streamlit as st

    app(world.reviewer)
    assert st.get_option("client.showErrorDetails") == "none"
