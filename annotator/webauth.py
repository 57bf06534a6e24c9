"""The HTTP side of signing in: an HttpOnly session cookie, which a Streamlit script cannot set itself.

Streamlit scripts talk to the browser over a WebSocket and can only set cookies from JavaScript
(``document.cookie``), which makes them readable by any script on the page. Streamlit 1.67's
``st.App`` lets the server add ordinary HTTP routes, so the app does this instead:

1. The sign-in (in the script) creates a server-side session and keeps its signed token in this
   tab's state. It hands the token to this module under a one-time code (random, valid 60 seconds,
   kept in this process's memory only) and puts a tiny script on the page that POSTs the code to
   :data:`PATH`.
2. The route exchanges the code for a ``Set-Cookie`` header: ``HttpOnly; SameSite=Strict; Path=/``,
   ``Secure`` when the request came over HTTPS (or ``ANNOTATOR_COOKIE_SECURE=true``). Page scripts
   never see the token; the browser sends the cookie with the WebSocket handshake, where the script
   reads it (``st.context.cookies``) after a reload or in a new tab.
3. Signing out deletes the session in the database first (so a leftover cookie opens nothing),
   then a DELETE to the same route removes the cookie.

The route accepts only same-origin requests that carry the ``X-Annotator-Session`` header (a
cross-site form cannot set it and a cross-site fetch with it needs a CORS preflight, which is not
answered). The server runs the route in the same process as the script that made the code (Streamlit
needs sticky sessions behind a proxy anyway), so the code never leaves memory. Imports no Streamlit.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

COOKIE = "annotator_session"
ROUTE = "_annotator/session"
HEADER = "X-Annotator-Session"
CODE_SECONDS = 60.0
MAX_PENDING = 10_000


@dataclass(frozen=True)
class _Pending:
    token: str
    max_age: int
    secure: bool | None
    expires: float


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()


def route_path(base_url_path: str = "") -> str:
    base = (base_url_path or "").strip("/")
    return f"/{base}/{ROUTE}" if base else f"/{ROUTE}"


def hand_off(token: str, *, max_age: int, secure: bool | None = None, now: float | None = None) -> str:
    """Keep `token` under a new one-time code for :data:`CODE_SECONDS`; return the code."""
    now = time.monotonic() if now is None else now
    code = secrets.token_urlsafe(24)
    with _lock:
        for key in [k for k, p in _pending.items() if p.expires <= now]:
            del _pending[key]
        while len(_pending) >= MAX_PENDING:
            del _pending[next(iter(_pending))]
        _pending[code] = _Pending(token, max_age, secure, now + CODE_SECONDS)
    return code


def take(code: str, *, now: float | None = None) -> _Pending | None:
    """The token handed off under `code`, once; None when unknown, used or expired."""
    now = time.monotonic() if now is None else now
    with _lock:
        found = _pending.pop(code, None)
    return found if found is not None and found.expires > now else None


def _same_origin(request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # browsers send Origin on every POST/DELETE fetch; its absence is not a browser page
        return False
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def _secure(request, wanted: bool | None) -> bool:
    if wanted is not None:
        return wanted
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


async def session_endpoint(request):
    """POST: exchange a one-time code for the HttpOnly session cookie. DELETE: remove the cookie."""
    from starlette.responses import PlainTextResponse, Response

    if request.headers.get(HEADER) != "1" or not _same_origin(request):
        return PlainTextResponse("forbidden", status_code=403)
    if request.method == "DELETE":
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request, None))
        return response
    body = (await request.body())[:200].decode("ascii", errors="replace").strip()
    pending = take(body)
    if pending is None:
        return PlainTextResponse("unknown or expired code", status_code=404, headers={"Cache-Control": "no-store"})
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(COOKIE, pending.token, max_age=pending.max_age, path="/", httponly=True, samesite="strict",
                        secure=_secure(request, pending.secure))
    return response


def routes(base_url_path: str = "") -> list:
    from starlette.routing import Route

    return [Route(route_path(base_url_path), session_endpoint, methods=["POST", "DELETE"])]
