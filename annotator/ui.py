"""Streamlit glue shared by the pages: the cached engine, the signed-in account, role guards,
session-state keys, and small rendering helpers. With app.py, the only package modules that
import streamlit."""

from __future__ import annotations

import functools
import html
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import streamlit as st
from sqlmodel import Session

from annotator.config import Settings, get_settings
from annotator.errors import AnnotatorError

COOKIE = "annotator_session"


class K:
    """Session-state and widget keys, declared in one place."""

    USER = "auth.user"
    TOKEN = "auth.token"
    SET_COOKIE = "auth.set_cookie"
    LABEL_ROUND = "label.round"
    LABEL_WIDGET = "label.widget"  # the labeling widget's state (its outbox)
    LABEL_ACKED = "label.acked"  # widget instance -> last action stored
    LABEL_NOTICES = "label.notices"  # what became of the last actions, for the widget
    LABEL_EDIT = "label.edit_thread"
    LABEL_REVEAL = "label.reveal"
    THIRD_WIDGET = "third.widget"
    THIRD_ACKED = "third.acked"
    THIRD_NOTICES = "third.notices"
    ADJ_ROUND = "adj.round"
    ADJ_THREAD = "adj.thread"
    FLASH = "ui.flash"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    is_adjudicator: bool

    @property
    def is_lead(self) -> bool:
        return self.role in ("lead", "admin")


@st.cache_resource
def settings() -> Settings:
    return get_settings()


@st.cache_resource
def engine():
    from annotator.data.engine import ensure_schema, make_engine

    eng = make_engine(settings().database_url)
    ensure_schema(eng)
    return eng


@contextmanager
def session() -> Iterator[Session]:
    """One short session per action."""
    with Session(engine(), expire_on_commit=False) as s:
        yield s


def _user_of(account) -> User:
    return User(account.id, account.username, account.display_name or account.username, account.role,
                bool(account.is_adjudicator))


def current_user() -> User | None:
    """The signed-in account: a signed, expiring token from this tab's state or the session cookie.

    Checked against the database on every run, so a sign-out (which bumps the account's session
    epoch) or a deactivation ends every tab at its next interaction.
    """
    from annotator.services.accounts import account_for_token

    token = st.session_state.get(K.TOKEN) or st.context.cookies.get(COOKIE)
    if not token:
        return None
    cfg = settings()
    try:
        secret = cfg.signing_key()
    except AnnotatorError:
        return None
    with session() as s:
        account = account_for_token(s, token, secret=secret, max_age_hours=cfg.session_hours)
    if account is None:
        st.session_state.pop(K.TOKEN, None)
        st.session_state.pop(K.USER, None)
        return None
    st.session_state[K.TOKEN] = token
    user = _user_of(account)
    st.session_state[K.USER] = user
    return user


def sign_in(username: str, password: str) -> User:
    """Check the password, keep a signed token in this tab and (via a script) in a session cookie."""
    from annotator.services.accounts import authenticate, issue_token

    cfg = settings()
    with session() as s:
        account = authenticate(s, username=username, password=password, max_failed=cfg.max_failed_logins,
                               lockout_minutes=cfg.lockout_minutes)
        token = issue_token(account, secret=cfg.signing_key())
    st.session_state[K.TOKEN] = token
    st.session_state[K.SET_COOKIE] = token
    user = _user_of(account)
    st.session_state[K.USER] = user
    return user


def sign_out(user: User) -> None:
    """End the session in every tab and browser (the account's token epoch moves on)."""
    from annotator.services.accounts import sign_out_everywhere

    with session() as s:
        sign_out_everywhere(s, username=user.username)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[K.SET_COOKIE] = ""


def sync_cookie() -> None:
    """Write (or clear) the session cookie in the browser after a sign-in or sign-out."""
    if K.SET_COOKIE not in st.session_state:
        return
    token = st.session_state.pop(K.SET_COOKIE)
    max_age = int(settings().session_hours * 3600) if token else 0
    st.html(
        f"<script>document.cookie = {json.dumps(f'{COOKIE}={token}')} + "
        f"'; path=/; max-age={max_age}; SameSite=Strict';</script>",
        unsafe_allow_javascript=True,
    )


def require_user(*roles: str) -> User:
    """The signed-in user, stopping the page with 'Not allowed' unless their role is one of `roles`."""
    user = st.session_state.get(K.USER) or current_user()
    if user is None:
        st.warning("Please sign in first.")
        st.stop()
    if roles and user.role not in roles:
        st.error(f"Not allowed: this page is for {' or '.join(roles)} accounts; you are signed in as a {user.role}.")
        st.stop()
    return user


def flash(message: str, kind: str = "success") -> None:
    st.session_state[K.FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.pop(K.FLASH, None)
    if item:
        kind, message = item
        getattr(st, kind if kind in ("success", "info", "warning", "error") else "info")(message)


def report_error(exc: Exception, labels: dict[str, str] | None = None) -> None:
    """Show a user error as one line; anything else is a bug and propagates.

    `labels` names the page's inputs by the option an error is about (e.g. {"size": "Sample size"}),
    so the message reads like the page, never like the command line.
    """
    if isinstance(exc, AnnotatorError):
        st.error(exc.page_message(labels))
    else:
        raise exc


def sso_configured() -> bool:
    """Single sign-on is set up (an [auth] section in .streamlit/secrets.toml)."""
    try:
        return bool(st.secrets.get("auth"))
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is a FileNotFoundError)
        return False


def thread_html(text: str) -> str:
    """A thread's text, escaped, with each 'user:' turn on its own line."""
    return f"<div class='thread-text'>{html.escape(text)}</div>"


def show_thread(text: str) -> None:
    """The thread's text exactly as written: escaped HTML, so neither Markdown nor markup in a user's
    prompt changes how it looks (a '# ' line stays a line, '<b>' stays text)."""
    st.html(thread_html(text))


def thread_heading(external_id: str, badges: str = "") -> None:
    """'#### Thread <id>' with optional badge HTML (built by the caller from numbers only)."""
    st.markdown(f"#### Thread {html.escape(external_id)} {badges}".rstrip(), unsafe_allow_html=True)


CSS = """
<style>
.thread-text { white-space: pre-wrap; font-size: 1.02rem; line-height: 1.55; }
.badge { display:inline-block; padding: 0.05rem 0.5rem; border-radius: 0.6rem; font-size: 0.8rem;
         background: #fdf0d5; color: #7a4b00; margin-right: 0.4rem; }
.muted { color: #6b7280; font-size: 0.85rem; }
kbd { border: 1px solid #cbd5e1; border-bottom-width: 2px; border-radius: 4px; padding: 0 4px; font-size: 0.8rem; }
.cbtable { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
.cbtable td { border-bottom: 1px solid #e5e7eb; padding: 0.3rem 0.5rem; vertical-align: top; }
.cbtable ul { margin: 0.2rem 0 0 1rem; font-style: italic; }
</style>
"""


def style() -> None:
    st.html(CSS)


CATEGORY_KEYS = list("1234567890") + list("QWETYADFGHJKLXVBM")


def category_key(position: int) -> str | None:
    """The keyboard shortcut of the category at `position`.

    C and R are Streamlit's own keys; S (skip), U (unsure), N (note) and Z (undo) are the widget's.
    """
    return CATEGORY_KEYS[position] if position < len(CATEGORY_KEYS) else None


@st.cache_data(ttl=300, show_spinner=False)
def categories(version_id: int) -> list[dict]:
    """The active categories of a codebook version (cached: versions never change once saved)."""
    from annotator.services.codebook import list_categories

    with session() as s:
        return [{"name": c.name, "definition": c.definition, "examples": list(c.examples or []),
                 "medhelm_category": c.medhelm_category, "medhelm_subcategory": c.medhelm_subcategory}
                for c in list_categories(s, version_id)]


def codebook_table(version_id: int, versions: list | None = None) -> None:
    """The categories of a version (key, name, definition, examples) as one escaped HTML table in an
    expander, and optionally the list of versions: one element each, cheap for the browser to redraw."""
    rows = []
    for i, cat in enumerate(categories(version_id)):
        examples = "".join(f"<li>{html.escape(ex)}</li>" for ex in cat["examples"])
        medhelm = " / ".join(x for x in (cat["medhelm_category"], cat["medhelm_subcategory"]) if x)
        rows.append(f"<tr><td><kbd>{html.escape(category_key(i) or '')}</kbd></td><td><b>{html.escape(cat['name'])}</b>"
                    f"{f'<div class=muted>MedHELM: {html.escape(medhelm)}</div>' if medhelm else ''}</td>"
                    f"<td>{html.escape(cat['definition'] or 'No definition.')}"
                    f"{f'<ul class=muted>{examples}</ul>' if examples else ''}</td></tr>")
    with st.expander(f"Categories ({len(rows)})"):
        st.html("<table class='cbtable'>" + "".join(rows) + "</table>")
    if versions:
        with st.expander(f"All versions ({len(versions)})"):
            st.html("<ul class='cbversions'>" + "".join(
                f"<li><b>{v.version}</b> · {html.escape(v.name)} · {html.escape(v.created_by or '—')} · "
                f"{v.created_at:%Y-%m-%d %H:%M}{' — ' + html.escape(v.note) if v.note else ''}</li>"
                for v in reversed(versions)) + "</ul>")


def codebook_panel(version_id: int) -> None:
    """Each category with its definition and examples, expandable."""
    for i, cat in enumerate(categories(version_id)):
        key = category_key(i)
        with st.expander(f"{key + ' · ' if key else ''}{cat['name']}"):
            st.write(cat["definition"] or "_No definition._")
            for ex in cat["examples"]:
                st.markdown(f"- _{html.escape(ex)}_")
            if cat["medhelm_category"]:
                st.caption(f"MedHELM: {cat['medhelm_category']} / {cat['medhelm_subcategory']}")


# --- the labeling widget (custom component v2: inline HTML/CSS/JS, no iframe) ---------------------------

STATIC = Path(__file__).resolve().parent / "static"
PREFETCH_THREADS = 5  # threads sent ahead, so a submit shows the next one at once
PREFETCH_CHARS = 120_000  # ...unless they are long: at least one, at most this many characters in all


@functools.cache
def _labeling_component() -> Callable[..., Any]:
    def read(name: str) -> str:
        return (STATIC / name).read_text(encoding="utf-8")

    return st.components.v2.component("annotator_labeling_widget", html=read("label_widget.html"),
                                      css=read("label_widget.css"), js=read("label_widget.js"))


def _keep_state() -> None:
    """The widget's state change itself is the event; the page reads it after checking the user."""


def widget_outbox(key: str) -> Any:
    """The widget's outbox as the browser sent it with this run (None before the first action).

    Read from session state before the widget is drawn, so a page can store the actions first and
    draw the widget with their outcome in the same run.
    """
    state = st.session_state.get(key)
    return state.get("outbox") if isinstance(state, dict) else None


def labeling_widget(key: str, data: dict) -> None:
    """Draw the labeling widget with `data` (see annotator/static/label_widget.js for its shape)."""
    _labeling_component()(key=key, data=data, on_outbox_change=_keep_state, width="stretch", height="content")


def widget_categories(version_id: int) -> list[dict]:
    """The categories of a codebook version with their keys, definitions and examples, for the widget."""
    return [{"name": c["name"], "key": category_key(i), "definition": c["definition"], "examples": c["examples"]}
            for i, c in enumerate(categories(version_id))]


def widget_thread(thread, round_id: int, *, mine=None, editing: bool = False, caption: str | None = None,
                  options: list[str] | None = None) -> dict:
    """One thread as the widget shows it (its text is set as text in the browser, never as HTML)."""
    item = {"id": thread.id, "round_id": round_id, "ext": thread.external_id, "text": thread.text,
            "chars": thread.char_count, "truncated": bool(thread.truncated), "editing": editing,
            "mine": ({"category": mine.category, "unsure": bool(mine.unsure), "note": mine.note or ""}
                     if mine is not None else None)}
    if caption:
        item["caption"] = caption
    if options is not None:
        item["options"] = list(options)
    return item


def prefetch_budget(texts: list[str]) -> int:
    """How many of these threads (in order) to send ahead: at least one, within PREFETCH_CHARS."""
    total, n = 0, 0
    for text in texts[:PREFETCH_THREADS]:
        total += len(text)
        if n and total > PREFETCH_CHARS:
            break
        n += 1
    return n


def compact_page() -> None:
    """Less padding above the page, so a work page fits a 1366x768 laptop screen without scrolling."""
    st.html("<style>.stMainBlockContainer { padding-top: 3.1rem; padding-bottom: 1rem; }</style>")
