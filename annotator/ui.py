"""Streamlit glue shared by the pages: the cached engine, the signed-in account, the one guard every
action goes through, session-state keys, and small rendering helpers that never let user- or
model-supplied text be read as Markdown or HTML. With app.py and asgi.py, the only package modules
that import streamlit."""

from __future__ import annotations

import functools
import html
import json
import logging
import re
import secrets
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import streamlit as st
from sqlmodel import Session

from annotator import webauth
from annotator.config import Settings, get_settings
from annotator.errors import AnnotatorError

log = logging.getLogger("annotator.app")
COOKIE = webauth.COOKIE


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


def client_address() -> str:
    """The browser's address: the WebSocket peer, or the last address the reverse proxy put in
    ANNOTATOR_CLIENT_IP_HEADER (e.g. X-Forwarded-For) when that is configured; 'local' for localhost."""
    header = settings().client_ip_header
    if header:
        value = st.context.headers.get(header)
        last = value.split(",")[-1].strip() if isinstance(value, str) else ""
        if last:
            return last[:64]
    ip = st.context.ip_address
    return ip[:64] if isinstance(ip, str) and ip else "local"


def _cookie_token() -> str | None:
    value = st.context.cookies.get(COOKIE)
    return value if isinstance(value, str) and value else None


def current_user() -> User | None:
    """The signed-in account: this tab's token, else the HttpOnly session cookie, checked against the
    database on every call (session still open, account active, its current role), so signing out,
    a deactivation or a demotion takes effect at the next interaction of every tab and app process."""
    from annotator.services.accounts import account_for_token

    token = st.session_state.get(K.TOKEN) or _cookie_token()
    if not token:
        st.session_state.pop(K.USER, None)
        return None
    try:
        secret = settings().signing_key()
    except AnnotatorError:
        return None
    with session() as s:
        account = account_for_token(s, token, secret=secret)
    if account is None:
        st.session_state.pop(K.TOKEN, None)
        st.session_state.pop(K.USER, None)
        return None
    st.session_state[K.TOKEN] = token
    user = _user_of(account)
    st.session_state[K.USER] = user
    return user


def _start(token: str) -> None:
    st.session_state[K.TOKEN] = token
    st.session_state[K.SET_COOKIE] = token


def sign_in(username: str, password: str) -> User:
    """Check the password, open a server-side session, keep its token in this tab and (through the
    cookie route) in an HttpOnly cookie."""
    from annotator.services.accounts import authenticate, start_session

    cfg = settings()
    client = client_address()
    with session() as s:
        account = authenticate(s, username=username, password=password, client=client,
                               max_failed=cfg.max_failed_logins, lockout_minutes=cfg.lockout_minutes)
        token = start_session(s, account, secret=cfg.signing_key(), hours=cfg.session_hours, client=client)
    _start(token)
    user = _user_of(account)
    st.session_state[K.USER] = user
    return user


def sign_in_sso(name: str) -> None:
    """Open a session for the account whose username is exactly this single sign-on identity."""
    from annotator.services.admin import token_for_sso

    cfg = settings()
    with session() as s:
        token = token_for_sso(s, username=name, secret=cfg.signing_key(), hours=cfg.session_hours,
                              client=client_address())
    _start(token)


def sign_out(user: User, *, everywhere: bool = True) -> None:
    """End this browser's session, or (`everywhere`) every session of the account in every browser
    and app process; then remove the cookie."""
    from annotator.services.accounts import end_session, sign_out_everywhere

    with session() as s:
        if everywhere:
            sign_out_everywhere(s, username=user.username)
        else:  # this tab's session and the cookie's (a later sign-in in another tab may have replaced it)
            end_session(s, tokens={st.session_state.get(K.TOKEN), _cookie_token()}, secret=settings().signing_key(),
                        actor=user.username)
    for key in list(st.session_state.keys()):
        if key != K.FLASH:  # a message for the sign-in page survives
            del st.session_state[key]
    st.session_state[K.SET_COOKIE] = ""


def sync_cookie() -> None:
    """After a sign-in or sign-out, have the browser fetch the cookie route (see annotator.webauth)."""
    if K.SET_COOKIE not in st.session_state:
        return
    token = st.session_state.pop(K.SET_COOKIE)
    path = webauth.route_path(st.get_option("server.baseUrlPath") or "")
    headers = {webauth.HEADER: "1", "Content-Type": "text/plain"}
    if token:
        cfg = settings()
        code = webauth.hand_off(token, max_age=int(cfg.session_hours * 3600), secure=cfg.cookie_secure)
        request = {"method": "POST", "credentials": "same-origin", "headers": headers, "body": code}
    else:
        request = {"method": "DELETE", "credentials": "same-origin", "headers": headers}
    st.html(f"<script>fetch({json.dumps(path)}, {json.dumps(request)}).catch(function () {{}});</script>",
            unsafe_allow_javascript=True)


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


ENDED = "Your session has ended (signed out, or the account was changed). Nothing was saved: sign in again."


def guarded(action: Callable[..., Any], *roles: str, adjudicator: bool = False) -> Callable[..., Any]:
    """`action` wrapped in the one guard every button and form callback goes through.

    Streamlit runs a callback *before* the page script, so a tab left open after "sign out
    everywhere", a deactivation or a demotion would still act with the user it rendered for. The
    guard first re-checks, against the database, that this tab's session is open and its account
    active, that the account's *current* role is one of `roles` (any role when none are given) and,
    with `adjudicator`, that it is still an adjudicator. If not, nothing runs and the page says why.
    A user error is shown as one line; any other error becomes the calm message (never a traceback)."""

    @functools.wraps(action)
    def run(*args, **kwargs):
        user = current_user()
        if user is None:
            flash(ENDED, "warning")
            return None
        if (roles and user.role not in roles) or (adjudicator and not user.is_adjudicator):
            flash(f"Not allowed: your account is now a {user.role}{'' if not adjudicator else ' without the adjudicator role'}. "
                  "Nothing was saved.", "error")
            return None
        try:
            return action(*args, **kwargs)
        except AnnotatorError as exc:
            flash(esc(str(exc)), "error")
        except Exception as exc:  # noqa: BLE001 - the boundary: log it safely, show a calm message
            flash(failure_message(exc), "error")
        return None

    return run


def failure_message(exc: BaseException, where: str = "action") -> str:
    """Log an unexpected error without its message (which may quote thread text or SQL parameters)
    and return the calm sentence to show instead."""
    ref = secrets.token_hex(4)
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in tb if "site-packages" not in f.filename] or tb[:1]
    frames = "".join(traceback.format_list(ours[-10:] + [f for f in tb[-2:] if f not in ours]))
    log.error("unexpected %s in %s (reference %s); traceback without the message:\n%s", type(exc).__name__, where,
              ref, frames)
    return (f"Something went wrong and nothing was changed. Please try again; if it happens again, tell your "
            f"admin the reference {ref}.")


def on_script_error(exc: Exception) -> bool:
    """st.App's handler for an uncaught error in a page or a callback: the calm message, no traceback."""
    if isinstance(exc, AnnotatorError):
        st.error(esc(str(exc)))
    else:
        st.error(failure_message(exc, "page"))
    return True


def flash(message: str, kind: str = "success") -> None:
    st.session_state[K.FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.pop(K.FLASH, None)
    if item:
        kind, message = item
        getattr(st, kind if kind in ("success", "info", "warning", "error") else "info")(message)


def report_error(exc: Exception, labels: dict[str, str] | None = None) -> None:
    """Show a user error as one line (its user-supplied parts never read as Markdown); anything else
    is a bug: logged without its message and shown as the calm message, never as a traceback.

    `labels` names the page's inputs by the option an error is about (e.g. {"size": "Sample size"}),
    so the message reads like the page, never like the command line.
    """
    if isinstance(exc, AnnotatorError):
        st.error(esc(exc.page_message(labels)))
    else:
        st.error(failure_message(exc))


_MD_CHARS = re.compile(r"([\\`*\[\]<>$~|{}])")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")


def esc(value: Any) -> str:
    """`value` as literal text inside Streamlit Markdown (st.markdown, st.write, st.caption, alerts,
    widget labels and radio options): backslash-escaped so that no image, link, HTML, code, emphasis,
    math, heading or list is formed, with line breaks as spaces. Escaping is CommonMark's own, so
    the reader sees exactly the characters that were typed."""
    text = re.sub(r"[\r\n\t]+", " ", "" if value is None else str(value))
    text = _MD_CHARS.sub(r"\\\1", text)
    text = re.sub(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])", r"\\_", text)  # underscores inside words stay as typed
    text = text.replace("://", ":\\/\\/").replace("www.", "www\\.")  # no bare-URL autolinks
    text = re.sub(r"!(?=\\\[)", r"\\!", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit() else "\\" + m.group(2)),
                              text)


def plain(text: Any, *, css_class: str = "plain-text") -> None:
    """A block of user- or model-supplied text shown exactly as written (escaped HTML, line breaks
    kept): definitions, examples, notes, rationales, candidate snippets."""
    st.html(f"<div class='{css_class}'>{html.escape('' if text is None else str(text))}</div>")


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
    """'#### Thread <id>' with optional badge HTML (built by the caller from numbers only); the id is
    escaped, so it is never read as Markdown or HTML."""
    st.markdown(f"#### Thread {esc(external_id)} {badges}".rstrip(), unsafe_allow_html=True)


CSS = """
<style>
.thread-text { white-space: pre-wrap; font-size: 1.02rem; line-height: 1.55; }
.plain-text { white-space: pre-wrap; }
.examples li { font-style: italic; }
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


def examples_html(examples: list[str]) -> str:
    return "<ul class='examples'>" + "".join(f"<li>{html.escape(str(e))}</li>" for e in examples) + "</ul>"


def category_details(definition: str, examples: list[str], medhelm: tuple[str, str] | None = None) -> None:
    """A category's definition and examples exactly as written, and its MedHELM mapping."""
    if definition:
        plain(definition)
    else:
        st.caption("No definition.")
    if examples:
        st.html(examples_html(examples))
    if medhelm and medhelm[0]:
        st.caption(f"MedHELM: {esc(medhelm[0])} / {esc(medhelm[1])}")


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
    """Each category with its definition and examples, expandable (names, definitions and examples
    are shown as text, never as Markdown)."""
    for i, cat in enumerate(categories(version_id)):
        key = category_key(i)
        with st.expander(f"{key + ' · ' if key else ''}{esc(cat['name'])}"):
            category_details(cat["definition"], cat["examples"], (cat["medhelm_category"], cat["medhelm_subcategory"]))


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
