"""The web app speaks to people: no command-line option in a page's message, and a dry run (cost
estimate) needs no API key. The same errors keep their option names on the command line."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from annotator.data.models import ModelRun
from annotator.errors import InvalidInput
from annotator.importing import parse_mapping
from annotator.services.classify import llm_config
from annotator.config import get_settings
from tests.factories import run_cli
from tests.pages.conftest import open_page, page_text, submit_form

CLI_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


@pytest.fixture
def no_key(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANNOTATOR_OPENAI_API_KEY", "ANNOTATOR_LLM_BASE_URL", "AZURE_OPENAI_API_KEY",
                 "ANNOTATOR_AZURE_API_KEY", "ANNOTATOR_LLM_PROVIDER", "ANNOTATOR_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_a_dry_run_needs_no_api_key(app, world, app_db, no_key):
    at = open_page(app(world.lead), "model.py")
    assert at.checkbox[0].value is True
    at = submit_form(at, "Run")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.info[0].value.startswith("6 threads · 0 cached · 6 requests · ~")
    with app_db.connect() as conn:
        assert conn.execute(select(ModelRun.id)).first() is None


def test_a_run_without_a_key_says_what_to_do_in_the_page_words(app, world, no_key):
    at = open_page(app(world.lead), "model.py")
    at.checkbox[0].uncheck()
    at = submit_form(at, "Run")
    [error] = [e.value for e in at.error]
    assert error == ("no API key: set OPENAI_API_KEY in the server's environment, or set ANNOTATOR_LLM_BASE_URL to a "
                     "local OpenAI-compatible server")
    assert not CLI_OPTION.search(page_text(at).replace("---", ""))


def test_the_command_line_keeps_its_option_names(no_key, db_url):
    with pytest.raises(InvalidInput) as caught:
        llm_config(get_settings())
    assert "--base-url" in caught.value.cli_message() and "--base-url" not in str(caught.value)
    with pytest.raises(InvalidInput) as caught:
        parse_mapping("text")
    assert caught.value.cli_message().startswith("--map: 'text' is not FIELD=COLUMN")
    assert not CLI_OPTION.search(str(caught.value))
    out = run_cli(["sample", "--round", " ", "--size", "1", "--reviewers", "a", "--seed", "1"], db_url)
    assert out.exit_code == 1 and out.stderr == "error: --round: a round needs a name\n"


def test_a_cli_dry_run_needs_no_api_key(no_key, db_url):
    from tests.factories import make_round
    from sqlmodel import Session
    from annotator.data.engine import make_engine

    engine = make_engine(db_url)
    with Session(engine) as s:
        make_round(s, name="r", size=3)
    engine.dispose()
    out = run_cli(["classify", "--round", "r", "--dry-run"], db_url)
    assert out.exit_code == 0, out.stderr
    assert out.output.startswith("dry run: 3 threads, 0 answered before (cache), 3 requests")
