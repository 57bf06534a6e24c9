"""The keyboard journey on a 1366x768 laptop screen, in Debian's Chromium against the real demo server.

reviewer1 does the reveal step of a round by keyboard (the thread stays in view, the buttons keep their
order), chooses the demo round in the round selector and, without clicking anywhere, labels 20 threads
with the keyboard alone, 30 ms between keys (one with Unsure, one with a typed note); exactly 20 labels
are stored, each with the category of the key pressed for it. Backspace takes the last one back and a
new key labels it again. Then the adjudicator decides a thread sent to third review by keyboard.

Nothing waits for the server between keys: the widget selects in the browser, sends each label once,
queues keys while the next thread is on its way, and the test only waits at the end of each stage.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.engine import make_engine
from annotator.data.models import Account, Assignment, AuditEvent, Decision, Label, Round, Thread
from annotator.services import adjudication
from annotator.services.codebook import category_names
from annotator.services.rounds import create_sampled_round, require_round
from tests.e2e.test_browser import _idle, _open, _sign_in
from tests.e2e.test_offline import outside_requests

pytestmark = pytest.mark.e2e

KEYS = "1234567890Q"
GAP_MS = 30
WIDGET = ".lw"


def _wait_widget(page, **attrs: str) -> None:
    """Wait until the widget's root carries these data attributes (e.g. view='thread', pending='0')."""
    selector = WIDGET + "".join(f'[data-{k}="{v}"]' for k, v in attrs.items())
    page.locator(selector).wait_for(timeout=60_000)


def _progress(page) -> str:
    return page.locator(".lw-progress").inner_text().strip()


def _wait_progress(page, text: str) -> None:
    page.locator(".lw-progress", has_text=re.compile(rf"^{re.escape(text)}$")).wait_for(timeout=60_000)
    _wait_widget(page, pending="0")


def _keys(page, *keys: str) -> None:
    for k in keys:
        page.keyboard.press(k)
        page.wait_for_timeout(GAP_MS)


def _type(page, text: str) -> None:
    page.keyboard.type(text, delay=GAP_MS)


@pytest.fixture
def world(server):
    """A two-thread reveal-step round for reviewer1 (the newest, so the label page opens on it), and a
    pilot thread sent to the adjudicator for a third review."""
    engine = make_engine(server.db_url)
    with Session(engine, expire_on_commit=False) as s:
        create_sampled_round(s, name="reveal-check", size=2, reviewers=["reviewer1"], per_thread=1, seed=5,
                             exclude_sampled=True, reveal_enabled=True, actor="e2e")
        pilot = require_round(s, "pilot")
        tid = s.execute(select(Assignment.thread_id).where(Assignment.round_id == pilot.id)
                        .order_by(Assignment.thread_id).limit(1)).scalar_one()
        adjudication.send_to_third_reviewer(s, round_id=pilot.id, thread_id=tid, adjudicator="adjudicator",
                                            actor="lead")
        cats = category_names(s, require_round(s, "demo").codebook_version_id)
        reviewer = s.execute(select(Account.id).where(Account.username == "reviewer1")).scalar_one()

        def queue(name: str) -> list[tuple[int, str]]:
            rid = require_round(s, name).id
            return [tuple(r) for r in s.execute(
                select(Thread.id, Thread.external_id).join(Assignment, Assignment.thread_id == Thread.id)
                .where(Assignment.round_id == rid, Assignment.reviewer_id == reviewer)
                .order_by(Assignment.position)).all()]

        data = {"engine": engine, "cats": cats, "reviewer": reviewer, "demo": queue("demo"),
                "reveal": queue("reveal-check"), "third": (pilot.id, tid)}
    try:
        yield data
    finally:
        engine.dispose()


def _labels(engine, round_name: str, reviewer: int) -> dict[int, Label]:
    with Session(engine) as s:
        rid = require_round(s, round_name).id
        return {lab.thread_id: lab for lab in s.execute(select(Label).where(
            Label.round_id == rid, Label.reviewer_id == reviewer)).scalars()}


def test_keyboard_journey_on_a_laptop(server, laptop_page, world, tmp_path):
    page, engine, cats = laptop_page, world["engine"], world["cats"]
    outside = outside_requests(page, server.url)
    page.goto(server.url)
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _sign_in(page, server.url, "reviewer1", server.password)
    _open(page, "Label")

    # --- the reveal step, by keyboard --------------------------------------------------------------------
    (t1, ext1), (t2, ext2) = world["reveal"]
    _wait_widget(page, view="thread", thread=ext1)
    order = page.locator(".lw-cat .lw-cat-name").all_inner_texts()
    assert order == cats
    thread_text = page.locator(".lw-text").inner_text()
    _keys(page, "2", "Enter")
    _wait_widget(page, view="reveal", thread=ext1)
    banner = page.locator(".lw-banner").inner_text()
    assert f"Your blind label {cats[1]} is stored and locked. The model labeled this thread" in banner
    assert page.locator(".lw-text").inner_text() == thread_text  # the thread stays in view
    assert page.locator(".lw-cat .lw-cat-name").all_inner_texts() == order  # same buttons, same order
    _keys(page, "3", "Enter")  # the second label
    _wait_widget(page, view="thread", thread=ext2)
    _keys(page, "1", "Enter")
    _wait_widget(page, view="reveal", thread=ext2)
    _keys(page, "Escape")  # continue without a second label
    _wait_widget(page, view="done", pending="0")
    revealed = _labels(engine, "reveal-check", world["reviewer"])
    assert (revealed[t1].category, revealed[t1].post_reveal_category) == (cats[1], cats[2])
    assert (revealed[t2].category, revealed[t2].post_reveal_category) == (cats[0], None)
    assert revealed[t1].revealed_model_category and revealed[t2].revealed_model_category

    # --- choose the demo round; keys work at once (the selector does not keep them) ----------------------
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=re.compile(r"^Round demo \(open\)")).click()
    demo = world["demo"][:20]
    _wait_widget(page, view="thread", thread=demo[0][1])
    _idle(page)
    layout = {sel: page.locator(sel).first.bounding_box() for sel in (".lw-text", ".lw-submit", ".lw-cat")}
    cat_boxes = [page.locator(".lw-cat").nth(i).bounding_box() for i in range(len(cats))]
    assert all(b["y"] + b["height"] <= 768 for b in [*layout.values(), *cat_boxes]), layout  # nothing below the fold
    assert [b["y"] for b in cat_boxes] == sorted(b["y"] for b in cat_boxes)  # keys read 1, 2, 3... down a column
    page.screenshot(path=str(tmp_path / "label-1366x768.png"))

    # --- 20 labels, keyboard only, 30 ms between keys -----------------------------------------------------
    expected = {}
    for i, (tid, _ext) in enumerate(demo):
        key = KEYS[i % len(KEYS)]
        expected[tid] = cats[KEYS.index(key)]
        if i == 1:
            _keys(page, key, "u", "Enter")  # unsure
        elif i == 2:
            _keys(page, key, "n")
            _type(page, "needs context")
            _keys(page, "Enter")  # Enter in the note submits
        else:
            _keys(page, key, "Enter")
    _wait_progress(page, "20 / 30 labeled")
    assert page.locator(".lw-text").first.bounding_box()["y"] == layout[".lw-text"]["y"]  # nothing shifted
    stored = _labels(engine, "demo", world["reviewer"])
    assert len(stored) == 20
    assert {tid: lab.category for tid, lab in stored.items()} == expected
    assert stored[demo[1][0]].unsure and stored[demo[2][0]].note == "needs context"
    assert all(lab.seconds_spent is not None and lab.seconds_spent >= 0 for lab in stored.values())

    # --- undo the last label, then label it again ---------------------------------------------------------
    last_tid, last_ext = demo[-1]
    _keys(page, "Backspace")
    _wait_progress(page, "19 / 30 labeled")
    _wait_widget(page, view="thread", thread=last_ext)
    assert last_tid not in _labels(engine, "demo", world["reviewer"])
    _keys(page, "5", "Enter")
    _wait_progress(page, "20 / 30 labeled")
    stored = _labels(engine, "demo", world["reviewer"])
    assert len(stored) == 20 and stored[last_tid].category == cats[4]
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "label_undone", AuditEvent.actor == "reviewer1")).scalar_one() == 1

    # --- third review by keyboard -----------------------------------------------------------------------
    _open(page, "My account")
    page.get_by_test_id("stMain").get_by_role("button", name="Sign out everywhere").click()
    page.get_by_role("textbox", name="Password", exact=True).wait_for()
    _idle(page)
    _sign_in(page, server.url, "adjudicator", server.password)
    _open(page, "Third review")
    _wait_widget(page, mode="decide", view="thread")
    assert page.locator('.lw-cat[data-key="1"] kbd').inner_text() == "1"  # the "1 ·" hint is a working key
    _keys(page, "4", "n")
    _type(page, "clear case")
    _keys(page, "Enter")
    _wait_widget(page, view="message", pending="0")
    round_id, tid = world["third"]
    with Session(engine) as s:
        d = s.execute(select(Decision).where(Decision.round_id == round_id, Decision.thread_id == tid)).scalar_one()
        assert (d.status, d.category, d.provenance, d.rationale, d.decided_by) == (
            "resolved", cats[3], "third_reviewer", "clear case", "adjudicator")
        assert s.execute(select(func.count()).select_from(Round)).scalar_one() == 3
    assert outside == [], f"requests to other hosts: {sorted(set(outside))}"
