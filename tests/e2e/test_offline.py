"""No page asks the browser for anything from another host: a hospital network without internet access
refuses such requests (Streamlit's ':material/...' page icon used to fetch its favicon from
fonts.gstatic.com). An admin, who sees every page, opens each one with request logging on."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.e2e.test_browser import _idle, _sign_in

pytestmark = pytest.mark.e2e


def outside_requests(page, server_url: str) -> list[str]:
    """Start logging every request the page makes to a host other than the app's own."""
    own = urlparse(server_url).netloc
    seen: list[str] = []

    def log(request) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != own:
            seen.append(request.url)

    page.on("request", log)
    return seen


def test_every_page_loads_only_from_the_app_itself(server, browser_page):
    page = browser_page
    seen = outside_requests(page, server.url)
    page.goto(server.url)
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _sign_in(page, server.url, "admin", server.password)
    links = page.get_by_test_id("stSidebar").get_by_role("link")
    n = links.count()
    assert n >= 12, n
    for i in range(n):
        links.nth(i).click()
        _idle(page)
        page.wait_for_timeout(500)  # late loads (fonts, icons, images)
        _idle(page)
    assert seen == [], f"requests to other hosts: {sorted(set(seen))}"
