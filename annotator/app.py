"""The Streamlit entry: a router. Run with `annotator serve` (which serves it through annotator/asgi.py
for the HttpOnly session cookie), or `streamlit run annotator/app.py`.

It lives inside the package, not beside `pages/`, so Streamlit never auto-discovers the pages
and no page can run without this gate (see STACK-NOTES). Every page is registered for a
signed-in user, so opening a page by URL reaches the page's own role check ("Not allowed");
the menu shows only the pages the role may use.

The page runs inside the app's error boundary: a user error is one line, anything else is logged
without its message and shown as a calm sentence, and Streamlit's own error display is set to show
no stack trace (``client.showErrorDetails = "none"``, also in annotator/.streamlit/config.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from annotator import ui  # noqa: E402

ALL = ("reviewer", "lead", "admin")
LEADS = ("lead", "admin")
# (file in pages/, title, icon, roles that see it in the menu, section)
PAGES = [
    ("home.py", "Home", ":material/home:", ALL, "Work"),
    ("label.py", "Label", ":material/label:", ALL, "Work"),
    ("third_review.py", "Third review", ":material/gavel:", ALL, "Work"),
    ("candidates.py", "Candidate examples", ":material/how_to_vote:", ALL, "Work"),
    ("rounds.py", "Rounds", ":material/view_list:", LEADS, "Lead"),
    ("adjudicate.py", "Adjudicate", ":material/balance:", LEADS, "Lead"),
    ("agreement.py", "Agreement", ":material/analytics:", LEADS, "Lead"),
    ("model.py", "Model", ":material/smart_toy:", LEADS, "Lead"),
    ("errors.py", "Error analysis", ":material/rule:", LEADS, "Lead"),
    ("codebook.py", "Codebook", ":material/menu_book:", LEADS, "Lead"),
    ("dashboard.py", "Dashboard", ":material/dashboard:", LEADS, "Lead"),
    ("import_threads.py", "Import threads", ":material/upload_file:", ("admin",), "Admin"),
    ("role_mapping.py", "Roles and roster", ":material/badge:", ("admin",), "Admin"),
    ("accounts.py", "Accounts", ":material/group:", ("admin",), "Admin"),
    ("account.py", "My account", ":material/person:", ALL, "Account"),
]


def _page(file: str, title: str, icon: str, default: bool = False):
    return st.Page(f"../pages/{file}", title=title, icon=icon, default=default, url_path=file.removesuffix(".py"))


def _sign_out(everywhere: bool) -> None:
    user = ui.current_user()
    if user is not None:
        ui.sign_out(user, everywhere=everywhere)


def _run(page) -> None:
    """The page boundary: no traceback ever reaches the browser."""
    try:
        page.run()
    except Exception as exc:  # noqa: BLE001 - Streamlit's stop/rerun are BaseExceptions and pass through
        ui.report_error(exc)


def main() -> None:
    st.set_option("client.showErrorDetails", "none")
    # A local favicon: ':material/...' icons as page_icon are fetched from fonts.gstatic.com, which a
    # hospital network without internet access refuses.
    st.set_page_config(page_title="annotator", page_icon=str(ROOT / "annotator" / "static" / "favicon.png"),
                       layout="wide")
    ui.style()
    user = ui.current_user()
    ui.sync_cookie()
    if user is None:
        _run(st.navigation([_page("sign_in.py", "Sign in", ":material/login:", default=True)], position="hidden"))
        return
    available = [p for p in PAGES if (ROOT / "pages" / p[0]).exists()]
    pages = {p[0]: _page(p[0], p[1], p[2], default=p[0] == "home.py") for p in available}
    current = st.navigation(list(pages.values()), position="hidden")
    with st.sidebar:
        st.markdown(f"**{ui.esc(user.display_name)}** · {user.role}")
        section = None
        for file, title, icon, roles, sec in available:
            if user.role in roles or (file == "third_review.py" and user.is_adjudicator):
                if file == "third_review.py" and not user.is_adjudicator:
                    continue
                if sec != section:
                    st.caption(sec)
                    section = sec
                st.page_link(pages[file], label=title, icon=icon)
        st.divider()
        out = st.columns(2)
        out[0].button("Sign out", key="app.signout", on_click=_sign_out, args=(False,), width="stretch",
                      help="Sign out of this browser.")
        out[1].button("Sign out everywhere", key="app.signout_all", on_click=_sign_out, args=(True,), width="stretch",
                      help="End your sessions in every browser and tab.")
    _run(current)


main()
