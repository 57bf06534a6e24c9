"""Every page in app.PAGES checks the role itself: opened by URL, a page for another role shows
'Not allowed' and nothing else; admins may open every page."""

from __future__ import annotations

import pytest

from tests.pages.conftest import app_pages, main_elements, open_page

PAGES = app_pages()
LEAD_PAGES = [f for f, _, roles in PAGES if "reviewer" not in roles]
ADMIN_PAGES = [f for f, _, roles in PAGES if "lead" not in roles]


def _refused(at) -> bool:
    """Only an error saying 'Not allowed' in the main area: no title, table, metric or widget leaks out."""
    shown = main_elements(at)
    return (not at.exception and len(shown) == 1 and shown[0].type == "error"
            and shown[0].value.startswith("Not allowed"))


def test_pages_list_is_read_from_the_router():
    files = [f for f, _, _ in PAGES]
    assert {"home.py", "label.py", "account.py", "rounds.py", "accounts.py", "import_threads.py"} <= set(files)
    assert "rounds.py" in LEAD_PAGES and "accounts.py" in ADMIN_PAGES and "home.py" not in LEAD_PAGES


@pytest.mark.parametrize("file", LEAD_PAGES)
def test_reviewer_opening_a_lead_or_admin_page_is_not_allowed(app, world, file):
    at = open_page(app(world.reviewer), file)
    assert _refused(at), [(e.type, getattr(e, "value", "")) for e in main_elements(at)]


@pytest.mark.parametrize("file", ADMIN_PAGES)
def test_lead_opening_an_admin_page_is_not_allowed(app, world, file):
    at = open_page(app(world.lead), file)
    assert _refused(at), [(e.type, getattr(e, "value", "")) for e in main_elements(at)]


@pytest.mark.parametrize("file", [f for f, _, _ in PAGES if f not in ADMIN_PAGES])
def test_lead_may_open_lead_pages(app, world, file):
    at = open_page(app(world.lead), file)
    assert not at.exception, at.exception
    assert not [e for e in at.error if e.value.startswith("Not allowed") and "adjudicator" not in e.value]


@pytest.mark.parametrize("file", [f for f, _, _ in PAGES])
def test_admin_may_open_every_page(app, world, file):
    at = open_page(app(world.admin), file)
    assert not at.exception, at.exception
    assert not [e for e in at.error if e.value.startswith("Not allowed") and "adjudicator" not in e.value]


def test_sidebar_menu_shows_only_the_role_pages(app, world):
    def menu(at):
        return {link.label for link in at.sidebar.get("page_link")}

    titles = {f: t for f, t, _ in PAGES}
    reviewer, admin = menu(app(world.reviewer)), menu(app(world.admin))
    assert titles["rounds.py"] not in reviewer and titles["accounts.py"] not in reviewer
    assert titles["label.py"] in reviewer and titles["home.py"] in reviewer
    assert {titles["rounds.py"], titles["accounts.py"], titles["import_threads.py"]} <= admin
