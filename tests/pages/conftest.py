"""Fixtures for page tests: the real app (annotator/app.py) driven by Streamlit's AppTest on a fresh
SQLite database per test, and helpers to act as a signed-in user and to read everything a page shows.

How a test signs in: it seeds ``at.session_state["auth.token"]`` with the token of a server-side
session opened by ``accounts.start_session`` before the first run, exactly as a browser tab that signed
in holds it. The environment (``ANNOTATOR_DATABASE_URL`` and ``ANNOTATOR_SECRET_KEY``, a random key
made once per test session) is set before the first run, and Streamlit's resource and data caches are
cleared before and after each test, because ``ui.settings()`` and ``ui.engine()`` are cached per process.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import streamlit as st
from google.protobuf import text_format
from sqlalchemy.engine import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from annotator.data.engine import ensure_schema, make_engine
from annotator.data.models import Account
from annotator.services import accounts
from tests.factories import make_round

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "annotator" / "app.py"
PAGES_DIR = ROOT / "pages"
PASSWORD = "correct-horse-battery"
SECRET = secrets.token_urlsafe(48)  # the app's ANNOTATOR_SECRET_KEY in page tests


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """An empty database migrated to head once per test session; each test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    eng = make_engine(f"sqlite:///{path}")
    ensure_schema(eng)
    eng.dispose()
    return path


@pytest.fixture
def app_db(tmp_path, monkeypatch, migrated_template) -> Iterator[Engine]:
    """A fresh SQLite database the app under test uses (migrated to head); caches cleared around the test."""
    db_file = tmp_path / "pages.sqlite3"
    shutil.copyfile(migrated_template, db_file)
    url = f"sqlite:///{db_file}"
    monkeypatch.setenv("ANNOTATOR_DATABASE_URL", url)
    monkeypatch.setenv("ANNOTATOR_SECRET_KEY", SECRET)
    for name in ("ANNOTATOR_CLIENT_IP_HEADER", "ANNOTATOR_COOKIE_SECURE", "ANNOTATOR_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    st.cache_resource.clear()
    st.cache_data.clear()
    eng = make_engine(url)
    ensure_schema(eng)
    try:
        yield eng
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
        eng.dispose()


@pytest.fixture
def db(app_db) -> Iterator[Session]:
    with Session(app_db, expire_on_commit=False) as s:
        yield s


def token_for(account: Account) -> str:
    """A signed-in browser's token: a new server-side session of `account` in the app's database."""
    engine = make_engine(os.environ["ANNOTATOR_DATABASE_URL"])
    try:
        with Session(engine, expire_on_commit=False) as s:
            return accounts.start_session(s, account, secret=SECRET, hours=1)
    finally:
        engine.dispose()


@pytest.fixture
def app(app_db) -> Callable[..., AppTest]:
    """Build an AppTest of the real entry script, signed in as `account` (or not), and run it once."""

    def build(account: Account | None = None, *, token: str | None = None, run: bool = True) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        if account is not None or token is not None:
            at.session_state["auth.token"] = token or token_for(account)
        return at.run() if run else at

    return build


def open_page(at: AppTest, file: str) -> AppTest:
    """Switch to pages/<file> through the router and run it."""
    return at.switch_page(f"../pages/{file}").run()


def make_user(session: Session, username: str, role: str = "reviewer", *, adjudicator: bool = False,
              password: str | None = None, display_name: str | None = None) -> Account:
    """An account; without a password (hashing costs ~0.7 s here) it can still act through a seeded token."""
    return accounts.create_account(session, username=username, role=role, password=password,
                                   display_name=display_name or f"Display {username}", is_adjudicator=adjudicator, actor="test")


@dataclass
class World:
    """A codebook, threads, a reviewer, a lead and an admin, and one open round."""

    reviewer: Account
    lead: Account
    admin: Account
    round_name: str
    others: tuple[str, ...]


@pytest.fixture
def world(db) -> World:
    reviewer = make_user(db, "rev1")
    lead = make_user(db, "lead1", "lead")
    admin = make_user(db, "admin1", "admin")
    others = ("rev2", "rev3")
    make_round(db, name="r1", size=6, reviewers=("rev1", *others), per_thread=3, seed=7)
    return World(reviewer, lead, admin, "r1", others)


def page_texts(at: AppTest) -> list[str]:
    """Every string the last run rendered, in the main area, the sidebar and the event area.

    Robust by construction: it walks every node of the element tree (``at._tree``, blocks included,
    so expander labels and tab names count) and prints each node's whole protobuf message with
    ``text_format`` — every string field (markdown bodies, labels, captions, help texts, options,
    placeholders, HTML bodies, default values) whatever the element type, including types AppTest
    has no class for. Tables travel as Arrow bytes, so a dataframe's cells are added as CSV text.
    """
    out: list[str] = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(text_format.MessageToString(proto, as_utf8=True))
        if getattr(node, "type", None) in ("dataframe", "arrow_data_frame", "table"):
            try:
                out.append(node.value.to_csv(index=False))
            except Exception:  # noqa: BLE001 - a table AppTest cannot decode is still covered by its proto
                pass
    return out


def page_text(at: AppTest) -> str:
    return "\n".join(page_texts(at))


def signed_in(at: AppTest) -> bool:
    """True when the run shows the app (a sidebar with the user's name), False on the sign-in page."""
    return not any(b.label == "Sign in" for b in at.button) and len(at.sidebar.children) > 0


def app_pages() -> list[tuple[str, str, tuple[str, ...]]]:
    """(file, title, roles) of every page in app.PAGES whose file exists, read from app.py's source.

    Importing annotator/app.py would run the app, so the PAGES list is evaluated from its syntax tree.
    """
    import ast

    ns: dict = {}
    for node in ast.parse(APP.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and getattr(node.targets[0], "id", None) in (
                "ALL", "LEADS", "PAGES"):
            ns[node.targets[0].id] = eval(compile(ast.Expression(node.value), str(APP), "eval"), {}, ns)  # noqa: S307
    return [(f, title, tuple(roles)) for f, title, _icon, roles, _sec in ns["PAGES"] if (PAGES_DIR / f).exists()]


def main_elements(at: AppTest) -> list:
    """The leaf elements of the main area, without the invisible style/cookie HTML the router adds."""
    from streamlit.testing.v1.element_tree import Block

    return [n for n in at.main if not isinstance(n, Block) and n.type != "html"]


def current_thread(at: AppTest) -> str | None:
    """The external id of the thread the label page shows (from its '#### Thread <id>' heading)."""
    for md in at.markdown:
        if md.value.startswith("#### Thread "):
            return md.value.removeprefix("#### Thread ").split(" ", 1)[0]
    return None


def click(at: AppTest, key: str) -> AppTest:
    return at.button(key=key).click().run()


def submit_form(at: AppTest, label: str) -> AppTest:
    """Click the form submit button with this label and run."""
    return next(b for b in at.button if b.label == label).click().run()


# --- the labeling widget (a custom component: AppTest cannot run its JavaScript) -------------------------

WIDGET = "annotator_labeling_widget"


def widget_data(at: AppTest) -> dict | None:
    """The data the page sent to the labeling widget in its last run (None when it drew no widget)."""
    import json

    for node in at._tree:
        proto = getattr(node, "proto", None)
        if getattr(node, "type", None) == "bidi_component" and proto.component_name == WIDGET:
            kind = proto.WhichOneof("data")
            return json.loads(proto.json if kind == "json" else proto.mixed.json)
    return None


def widget_thread(at: AppTest) -> str | None:
    """The external id of the thread the widget shows first (None when its queue is empty)."""
    data = widget_data(at)
    return data["queue"][0]["ext"] if data and data["queue"] else None


def send_actions(at: AppTest, key: str, items: list[dict], *, instance: str = "tab-1") -> AppTest:
    """Do what the widget's JavaScript does: set its state value 'outbox' (every action not yet
    acknowledged, with increasing sequence numbers), which reruns the page."""
    at.session_state[key] = {"outbox": {"instance": instance, "items": items}}
    return at.run()
