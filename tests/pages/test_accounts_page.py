"""The Accounts page: list without secrets, create an account, reset a password, change role/active/adjudicator."""

from __future__ import annotations


from sqlalchemy import select

from annotator.data.models import Account, AuditEvent
from annotator.services.accounts import authenticate
from tests.pages.conftest import PASSWORD, open_page, page_text, submit_form, token_for


def _account(db, username: str) -> Account:
    db.expire_all()
    return db.execute(select(Account).where(Account.username == username)).scalar_one()


def test_list_never_shows_password_hashes(app, db, world):
    from annotator.services.accounts import set_password

    set_password(db, username="rev1", password=PASSWORD, actor="test")
    at = open_page(app(world.admin), "accounts.py")
    table = at.dataframe[0].value
    assert set(table["username"]) == {"rev1", "rev2", "rev3", "lead1", "admin1"}
    assert "password_hash" not in table.columns and "session_epoch" not in table.columns
    assert "$argon2" not in page_text(at)


def test_create_an_account(app, db, world):
    at = open_page(app(world.admin), "accounts.py")
    at.text_input(key="accounts.username").input("newlead")
    at.text_input(key="accounts.name").input("New Lead")
    at.selectbox(key="accounts.role").set_value("lead")
    at.checkbox(key="accounts.adjudicator").check()
    at.text_input(key="accounts.password").input("a-good-password")
    at = submit_form(at, "Create account")
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Account 'newlead' created."]
    acc = _account(db, "newlead")
    assert (acc.role, acc.display_name, acc.is_adjudicator) == ("lead", "New Lead", True)
    assert authenticate(db, username="newlead", password="a-good-password").username == "newlead"
    assert "newlead" in set(at.dataframe[0].value["username"])


def test_create_rejects_a_short_password_in_one_line(app, db, world):
    at = open_page(app(world.admin), "accounts.py")
    at.text_input(key="accounts.username").input("shorty")
    at.text_input(key="accounts.password").input("short")
    at = submit_form(at, "Create account")
    assert [e.value for e in at.error] == ["password must have at least 8 characters"]
    assert db.execute(select(Account).where(Account.username == "shorty")).first() is None


def test_reset_a_password_signs_the_account_out(app, db, world):
    reviewer_tab = app(world.reviewer)
    at = open_page(app(world.admin), "accounts.py")
    at.selectbox(key="accounts.who").set_value("rev1")
    at = at.run()
    at.text_input(key="accounts.new_password").input("brand-new-password")
    at = submit_form(at, "Reset password")
    assert [s.value for s in at.success] == ["Password of 'rev1' reset; their sessions are signed out."]
    db.expire_all()
    assert authenticate(db, username="rev1", password="brand-new-password").username == "rev1"
    assert reviewer_tab.run().title[0].value == "annotator"  # back on the sign-in page
    assert db.execute(select(AuditEvent).where(AuditEvent.action == "reset_password")).scalars().first().actor == "admin1"


def test_change_role_active_and_adjudicator(app, db, world):
    at = open_page(app(world.admin), "accounts.py")
    at.selectbox(key="accounts.who").set_value("rev2")
    at = at.run()
    at.selectbox(key="accounts.edit_role.rev2").set_value("lead")
    at.checkbox(key="accounts.edit_active.rev2").uncheck()
    at.checkbox(key="accounts.edit_adjudicator.rev2").check()
    at = submit_form(at, "Save changes")
    assert [s.value for s in at.success] == ["Account 'rev2' updated."]
    acc = _account(db, "rev2")
    assert (acc.role, acc.active, acc.is_adjudicator) == ("lead", False, True)


def test_admin_cannot_lock_themselves_out(app, db, world):
    at = open_page(app(world.admin), "accounts.py")
    at.selectbox(key="accounts.who").set_value("admin1")
    at = at.run()
    at.selectbox(key="accounts.edit_role.admin1").set_value("reviewer")
    at = submit_form(at, "Save changes")
    assert len(at.error) == 1 and at.error[0].value.startswith("you cannot remove your own admin role")
    assert _account(db, "admin1").role == "admin"


def test_deactivated_account_is_signed_out(app, db, world):
    token = token_for(world.reviewer)
    at = open_page(app(world.admin), "accounts.py")
    at.selectbox(key="accounts.who").set_value("rev1")
    at = at.run()
    at.checkbox(key="accounts.edit_active.rev1").uncheck()
    submit_form(at, "Save changes")
    assert app(token=token).title[0].value == "annotator"
    assert _account(db, "rev1").active is False
