"""The server `annotator serve` starts: Streamlit's ASGI app (``st.App``) running the router
``app.py`` beside it, plus the one HTTP route that sets the HttpOnly session cookie
(:mod:`annotator.webauth`) and a handler that turns an uncaught error into a calm message.

``streamlit run annotator/asgi.py`` finds the ``app`` below and serves it with uvicorn; the page
scripts themselves are unchanged (AppTest still drives ``annotator/app.py`` directly). Running
``streamlit run annotator/app.py`` instead works, but without the cookie route a sign-in lasts only
as long as the browser tab.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit import config as _st_config  # noqa: E402

from annotator import webauth  # noqa: E402


def _on_script_error(exc: Exception) -> bool:
    from annotator import ui  # imported when a page runs, inside Streamlit's runtime

    return ui.on_script_error(exc)


app = st.App("app.py", routes=webauth.routes(_st_config.get_option("server.baseUrlPath") or ""),
             on_script_error=_on_script_error)
