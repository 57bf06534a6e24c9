"""Attack 5 with AppTest: over a database whose every user- and model-supplied text carries a Markdown
image, an HTML image and a bare link (tests/hostile.py), every page each role may open is rendered
(tabs, expanders, forms and computed reports included) and every string Streamlit would read as
Markdown is checked: the URL never appears with its ``://`` intact, so no image, link or autolink can
form; HTML bodies carry the text escaped (no ``<img``). Widget values, selectbox options and tables are
plain text in the browser and are not Markdown, so they are left out.

The Label and Third review pages are being rebuilt (issue 12) and are left to that work.
"""

from __future__ import annotations

import re

import pytest
from google.protobuf.message import Message

from tests.hostile import build
from tests.pages.conftest import app_pages, open_page

URL = "http://127.0.0.1:9"
NOT_MARKDOWN = {"default", "value", "raw_value", "raw_values", "placeholder", "data", "id", "form_id", "key", "arrow_data", "styler",
                "spec", "deck_json", "url", "page_script_hash", "file_name", "mime_type", "tooltip_json"}
PLAIN_OPTIONS = {"selectbox", "multiselect"}  # options render as plain text (checked in Chromium)
OWNED_ELSEWHERE = {"label.py", "third_review.py"}
USERS = {"reviewer": "rev1", "lead": "lead1", "admin": "admin1"}


def _strings(message: Message, path: str = ""):
    for field, value in message.ListFields():
        name = field.name
        repeated = not isinstance(value, (str, bytes, Message)) and hasattr(value, "__iter__")
        values = value if repeated else [value]
        for v in values:
            if isinstance(v, Message):
                yield from _strings(v, f"{path}.{name}")
            elif isinstance(v, str):
                yield f"{path}.{name}", name, v


def _offences(at) -> list[str]:
    found = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if proto is None or kind in ("dataframe", "arrow_data_frame", "table", "code", "text"):  # st.text is verbatim
            continue
        for where, name, text in _strings(proto):
            if URL not in text and "<img" not in text:
                continue
            if kind in ("html", "iframe"):  # HTML, never Markdown: the user's text must be escaped HTML
                if re.search(r"<[a-zA-Z]+[^<>]*\b(src|href)=['\"]?" + re.escape(URL), text):
                    found.append(f"{kind}{where}: a raw HTML tag pointing at the URL")
                continue
            if name in NOT_MARKDOWN or (name == "options" and kind in PLAIN_OPTIONS):
                continue
            if f"{URL}/" in text or re.search(r"(?<!\\)<img", text):
                found.append(f"{kind}{where}: {text[:120]!r}")
    return found


def _world(app_db):
    return build(app_db, URL)


CASES = [(f, role) for f, _title, roles in app_pages() if f not in OWNED_ELSEWHERE for role in roles]


@pytest.mark.parametrize("page, role", CASES, ids=[f"{f}-{r}" for f, r in CASES])
def test_no_page_reads_user_or_model_text_as_markdown(app, app_db, db, page, role):
    from annotator.services.accounts import get_account

    _world(app_db)
    at = app(get_account(db, USERS[role]))
    assert _offences(at) == [], "the sidebar and home"
    at = open_page(at, page)
    assert not at.exception, [e.value for e in at.exception]
    if page == "agreement.py":
        at = next(b for b in at.button if b.label == "Compute").click().run()
    if page == "model.py":
        at = at.button(key="model.compare").click().run()
    assert not at.exception
    assert _offences(at) == []


def test_the_check_finds_unescaped_text(app, app_db, db):
    """The check itself: the same pages with escaping switched off are caught."""
    from annotator import ui
    from annotator.services.accounts import get_account

    _world(app_db)
    original = ui.esc
    ui.esc = lambda value: "" if value is None else str(value)
    try:
        at = open_page(app(get_account(db, "lead1")), "rounds.py")
    finally:
        ui.esc = original
    assert _offences(at)
