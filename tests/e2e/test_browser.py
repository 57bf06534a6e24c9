"""The reviewer journey in a real browser against the real demo server: sign in, label three threads
with the keyboard only (the label widget, see annotator/static/label_widget.js), reload, sign out; a second
reviewer sees none of it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.engine import make_engine
from annotator.data.models import Account, Label

pytestmark = pytest.mark.e2e

IDLE = "() => document.querySelectorAll('[data-stale=\"true\"]').length === 0"


def _idle(page) -> None:
    """Wait until Streamlit has finished rerunning: no element is stale (a key pressed mid-run is lost)."""
    page.wait_for_function(IDLE)


def _progress(page) -> str:
    """The label widget's own progress text, e.g. '2 / 30 labeled'."""
    return page.locator(".lw-progress").inner_text().strip()


def _wait_progress(page, text: str) -> None:
    """Wait until the widget shows this progress and every label it sent is acknowledged."""
    page.locator(".lw-progress", has_text=re.compile(rf"^{re.escape(text)}$")).wait_for()
    page.locator('.lw[data-pending="0"]').wait_for()
    _idle(page)


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("^Welcome")).wait_for()
    _idle(page)


def _open(page, link: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=link).click()
    _idle(page)


def test_reviewer_journey_keyboard_only_and_blind(server, browser_page, tmp_path):
    page = browser_page
    page.goto(server.url)
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _sign_in(page, server.url, "reviewer1", server.password)

    _open(page, "Label")
    page.locator('.lw[data-view="thread"]').wait_for()
    _wait_progress(page, "0 / 30 labeled")
    for n in range(1, 4):
        before = page.locator(".lw").get_attribute("data-thread")
        page.keyboard.press("1")  # the first category, selected in the browser
        assert page.locator('.lw-cat[data-key="1"]').get_attribute("aria-pressed") == "true"
        page.keyboard.press("Control+Enter")
        _wait_progress(page, f"{n} / 30 labeled")
        assert page.locator(".lw").get_attribute("data-thread") != before  # the next thread is shown
    assert _progress(page) == "3 / 30 labeled"

    page.reload()  # the signed session cookie keeps us signed in
    _wait_progress(page, "3 / 30 labeled")
    assert page.get_by_test_id("stSidebar").get_by_text("Dr. Ada Reviewer").is_visible()

    _open(page, "My account")
    page.get_by_test_id("stMain").get_by_role("button", name="Sign out everywhere").click()
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _idle(page)

    _sign_in(page, server.url, "reviewer2", server.password)
    page.get_by_test_id("stProgress").filter(has_text=re.compile(r"^\s*0 / 30\s*$")).wait_for()  # own progress only
    _idle(page)
    home = page.get_by_test_id("stMain").inner_text()
    _open(page, "Label")
    _wait_progress(page, "0 / 30 labeled")
    page.get_by_text("My labels in this round").click()
    page.get_by_text("None yet.").wait_for()
    _idle(page)
    text = page.locator("body").inner_text()
    for hint in ("reviewer1", "Ada Reviewer", "Saved:"):
        assert hint not in text and hint not in home
    shot = tmp_path / "reviewer2-label.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    engine = make_engine(server.db_url)
    try:
        with Session(engine) as s:
            n = s.execute(select(func.count()).select_from(Label).join(Account, Account.id == Label.reviewer_id)
                          .where(Account.username == "reviewer1")).scalar_one()
            n2 = s.execute(select(func.count()).select_from(Label).join(Account, Account.id == Label.reviewer_id)
                           .where(Account.username == "reviewer2")).scalar_one()
    finally:
        engine.dispose()
    assert (n, n2) == (3, 0)
