"""Fixtures for the data-layer tests that talk to the loopback OpenAI-compatible server."""

from __future__ import annotations

import pytest

from tests.fake_openai import FakeOpenAI

LLM_SETTINGS = ("ANNOTATOR_LLM_BASE_URL", "ANNOTATOR_OPENAI_API_KEY", "ANNOTATOR_LLM_MODEL", "ANNOTATOR_LLM_TIMEOUT",
                "ANNOTATOR_LLM_PROVIDER", "ANNOTATOR_PRICE_TABLE")


@pytest.fixture
def fake():
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (see tests/fake_openai.py)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_env(monkeypatch, tmp_path):
    """A test key, no stray endpoint settings, and no .env file in the working directory."""
    for name in LLM_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.chdir(tmp_path)
