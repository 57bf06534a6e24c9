"""Sessions in a real browser against real servers:

- the forged demo token (attack 2): a demo server signs with a secret made for that start, so a token
  signed with the constant that used to be in the source (or with any guess) opens nothing, while a
  real sign-in sets an HttpOnly, SameSite=Strict cookie that page scripts cannot read;
- several app processes on one PostgreSQL (item 8): two `annotator serve` processes on two ports share
  the sign-in (the same cookie), labels submitted through both land exactly once, and "Sign out
  everywhere" on one ends the session on the other.
"""

from __future__ import annotations

import re
import secrets
import time

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.engine import ensure_schema, make_engine
from annotator.data.models import Account, Label, WebSession
from annotator.services import accounts
from annotator.webauth import COOKIE
from tests.e2e.conftest import run_server
from tests.factories import make_round

pytestmark = pytest.mark.e2e
IDLE = ("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0 && "
        "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state') === 'notRunning'")
OLD_DEMO_SECRET = "demo-only-secret-do-not-use-in-production"  # the constant that was in the source
PASSWORD = "violet-harbour-7"


def _idle(page) -> None:
    page.wait_for_function(IDLE)


def _sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("^Welcome")).wait_for()
    _idle(page)


def _on_sign_in_page(page) -> None:
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _idle(page)
    assert not page.get_by_test_id("stSidebar").count() or not page.get_by_text("Sign out everywhere").count()


def _forged(secret: str, raw: str) -> list[str]:
    old_format = URLSafeTimedSerializer(secret, salt="annotator.session").dumps({"u": "admin", "e": 0, "n": "00"})
    new_format = URLSafeSerializer(secret, salt="annotator.session").dumps(raw)
    return [old_format, new_format]


def test_a_forged_demo_token_opens_nothing_and_the_real_cookie_is_http_only(server, chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    host = server.url.split("//", 1)[1].split(":", 1)[0]
    for token in _forged(OLD_DEMO_SECRET, secrets.token_urlsafe(32)):
        context.add_cookies([{"name": COOKIE, "value": token, "domain": host, "path": "/"}])
        page = context.new_page()
        page.goto(server.url)
        _on_sign_in_page(page)  # not signed in as admin (or anyone)
        page.close()
    context.clear_cookies()

    page = context.new_page()
    _sign_in(page, server.url, "admin", server.password)
    deadline = time.monotonic() + 30
    while not [c for c in context.cookies() if c["name"] == COOKIE] and time.monotonic() < deadline:
        time.sleep(0.1)  # the page's script fetches the cookie route right after the sign-in
    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert COOKIE not in page.evaluate("document.cookie")  # no page script can read the session
    page.reload()  # the HttpOnly cookie still reaches the server with the WebSocket handshake
    page.get_by_role("heading", name=re.compile("^Welcome")).wait_for()

    # the real session's random part, re-signed with the constant, opens nothing: the signature is checked first
    forged = URLSafeSerializer(OLD_DEMO_SECRET, salt="annotator.session").dumps(secrets.token_urlsafe(32))
    other = chromium.new_context()
    other.add_cookies([{"name": COOKIE, "value": forged, "domain": host, "path": "/"}])
    stranger = other.new_page()
    stranger.goto(server.url)
    _on_sign_in_page(stranger)
    other.close()
    context.close()


def test_two_app_processes_on_one_postgres_share_sessions_and_store_labels_once(postgres_url, tmp_path, chromium):
    engine = make_engine(postgres_url)
    ensure_schema(engine)
    with Session(engine, expire_on_commit=False) as s:
        accounts.create_account(s, username="rev1", password=PASSWORD, display_name="Dr. Rev One")
        make_round(s, name="r1", size=6, reviewers=("rev1",), per_thread=1, seed=3)
    env = {"ANNOTATOR_SECRET_KEY": secrets.token_urlsafe(48)}  # the same secret for every process

    def labels() -> list[tuple[int, int]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(Label.thread_id, Label.reviewer_id))]

    def wait_labels(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(labels()) < n:
            assert time.monotonic() < deadline, f"{len(labels())} labels stored, expected {n}"
            time.sleep(0.1)

    def label_one(page) -> None:
        """One label through the keyboard widget: a category key, then Enter."""
        page.get_by_test_id("stSidebar").get_by_role("link", name="Label").click()
        page.locator('.lw[data-view="thread"]').wait_for()
        _idle(page)
        page.keyboard.press("1")  # the first category
        page.wait_for_timeout(30)
        page.keyboard.press("Enter")

    try:
        with run_server(postgres_url, tmp_path / "a.log", env=env) as a, \
                run_server(postgres_url, tmp_path / "b.log", env=env) as b:
            assert a.url != b.url
            context = chromium.new_context(viewport={"width": 1400, "height": 1000})
            page_a = context.new_page()
            page_a.set_default_timeout(60_000)
            _sign_in(page_a, a.url, "rev1", PASSWORD)
            deadline = time.monotonic() + 30
            while not [c for c in context.cookies() if c["name"] == COOKIE] and time.monotonic() < deadline:
                time.sleep(0.1)

            page_b = context.new_page()  # the other process, same browser: signed in by the same cookie
            page_b.set_default_timeout(60_000)
            page_b.goto(b.url)
            page_b.get_by_role("heading", name=re.compile("^Welcome")).wait_for()
            _idle(page_b)

            label_one(page_a)
            wait_labels(1)
            label_one(page_b)
            wait_labels(2)
            stored = labels()
            assert len(stored) == 2 and len(set(stored)) == 2  # two threads, each exactly once

            page_a.get_by_test_id("stSidebar").get_by_role("button", name="Sign out everywhere").click()
            _on_sign_in_page(page_a)
            with Session(engine) as s:
                rev = s.execute(select(Account).where(Account.username == "rev1")).scalar_one()
                assert s.execute(select(func.count()).select_from(WebSession)
                                 .where(WebSession.account_id == rev.id)).scalar_one() == 0
            page_b.get_by_test_id("stSidebar").get_by_role("link", name="Home").click()  # the open tab on B
            _on_sign_in_page(page_b)
            page_b.reload()
            _on_sign_in_page(page_b)
            assert len(labels()) == 2
            context.close()
    finally:
        engine.dispose()
