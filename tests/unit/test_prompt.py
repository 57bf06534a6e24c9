"""The classification prompt, its cache key, the answer schema and the tolerant answer parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.errors import InvalidInput
from annotator.llm import prompt as P
from annotator.llm.prompt import (
    CategorySpec,
    ParsedAnswer,
    ParseError,
    build_messages,
    category_names,
    codebook_hash,
    parse_answer,
    prompt_hash,
    render_prompt_text,
    response_format,
    response_schema,
)

CODEBOOK = [
    CategorySpec(
        "Email & Document Writing", "Drafting emails and documents.", ["Write an email to staff", "Draft a memo"]
    ),
    CategorySpec("Coding", "Writing or fixing code.", ["Fix this SQL query", "Write a Python script"]),
    CategorySpec("Answer Medical Knowledge Questions", "Clinical questions.", ["What is the dose of amoxicillin?"]),
    CategorySpec("Other", "Anything else.", []),
]
NAMES = category_names(CODEBOOK)


def test_system_message_lists_every_category_with_definition_and_examples_in_order():
    system, user = build_messages(CODEBOOK, "please write an email")
    assert system["role"] == "system" and user["role"] == "user"
    text = system["content"]
    positions = []
    for i, cat in enumerate(CODEBOOK, start=1):
        heading = f"### {i}. {cat.name}"
        assert heading in text
        positions.append(text.index(heading))
        assert f"Definition: {cat.definition}" in text
        example_positions = [text.index(f'- "{ex}"') for ex in cat.examples]
        assert example_positions == sorted(example_positions)
        assert all(p > positions[-1] for p in example_positions)
    assert positions == sorted(positions)
    assert "exactly one" in text and "main intent" in text and '"Other"' in text and "JSON" in text


def test_user_message_holds_the_thread_text_only_once_and_not_in_system():
    thread = "Summarize this discharge note [unique-token-42]"
    system, user = build_messages(CODEBOOK, thread)
    assert user["content"].count("unique-token-42") == 1
    assert "unique-token-42" not in system["content"]


def test_other_is_appended_when_the_codebook_lacks_it():
    names = category_names(CODEBOOK[:2])
    assert names == ["Email & Document Writing", "Coding", "Other"]
    system, _ = build_messages(CODEBOOK[:2], "x")
    assert "### 3. Other" in system["content"]


@pytest.mark.parametrize(
    "codebook, message",
    [
        ([], "no categories"),
        ([CategorySpec("Coding"), CategorySpec(" coding ")], "both named"),
        ([CategorySpec("  ")], "empty name"),
    ],
)
def test_bad_codebooks_are_rejected_with_a_readable_error(codebook, message):
    with pytest.raises(InvalidInput, match=message):
        build_messages(codebook, "x")


def test_render_prompt_text_shows_both_messages_verbatim():
    messages = build_messages(CODEBOOK, "thread text here")
    text = render_prompt_text(messages)
    assert text.startswith("=== SYSTEM ===\n")
    assert messages[0]["content"] in text and messages[1]["content"] in text
    assert "=== USER ===" in text


def test_prompt_hash_is_stable_and_changes_with_every_input(monkeypatch):
    first = CODEBOOK[0]

    def with_first(**change) -> list[CategorySpec]:
        values = {"name": first.name, "definition": first.definition, "examples": first.examples} | change
        return [CategorySpec(**values), *CODEBOOK[1:]]

    base = prompt_hash("gpt-4o", CODEBOOK, "thread")
    assert base == prompt_hash("gpt-4o", with_first(examples=list(first.examples)), "thread")
    assert len(base) == 64
    changed = [
        prompt_hash("gpt-4o-mini", CODEBOOK, "thread"),
        prompt_hash("gpt-4o", CODEBOOK, "thread "),
        prompt_hash("gpt-4o", with_first(name="Emails"), "thread"),
        prompt_hash("gpt-4o", with_first(definition="other definition"), "thread"),
        prompt_hash("gpt-4o", with_first(examples=first.examples[::-1]), "thread"),
        prompt_hash("gpt-4o", [CODEBOOK[1], CODEBOOK[0], *CODEBOOK[2:]], "thread"),
    ]
    assert len({base, *changed}) == len(changed) + 1
    monkeypatch.setattr(P, "PROMPT_TEMPLATE_VERSION", "test-version")
    assert prompt_hash("gpt-4o", CODEBOOK, "thread") != base


def test_codebook_hash_ignores_the_thread_but_not_the_codebook():
    assert codebook_hash(CODEBOOK) == codebook_hash(list(CODEBOOK))
    assert codebook_hash(CODEBOOK) != codebook_hash(CODEBOOK[:3])


def test_schema_enum_is_the_category_names_and_the_format_is_strict():
    schema = response_schema(NAMES)
    assert schema["properties"]["category"]["enum"] == NAMES
    assert schema["required"] == ["category", "rationale", "confidence"]
    assert schema["additionalProperties"] is False
    fmt = response_format(NAMES)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "usage_category"


@pytest.mark.parametrize(
    "text, category",
    [
        ('{"category": "Coding", "rationale": "sql", "confidence": 0.8}', "Coding"),
        ('```json\n{"category": "Coding", "rationale": "r", "confidence": 1}\n```', "Coding"),
        ('Answer: {"category": "  coding ", "rationale": "r", "confidence": 0.2} Hope it helps {"x": 1}', "Coding"),
        ('{"not": "it"} then {"category": "email &   document writing", "rationale": "r", "confidence": 0.5}', None),
        ('first {broken then {"category": "Other", "rationale": "", "confidence": 0.1}', "Other"),
    ],
)
def test_parse_answer_tolerates_fences_prose_case_and_spacing(text, category):
    result = parse_answer(text, NAMES)
    if category is None:  # the first JSON object is used; it has no category
        assert isinstance(result, ParseError) and "category" in result.reason
    else:
        assert isinstance(result, ParsedAnswer) and result.category == category


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("Coding", "no JSON"),
        ('{"category": "Astrology", "rationale": "", "confidence": 0.9}', "unknown category"),
        ('{"category": "Cod", "rationale": "", "confidence": 0.9}', "unknown category"),
        ('{"category": 3}', "no 'category'"),
    ],
)
def test_parse_answer_never_guesses(text, reason):
    result = parse_answer(text, NAMES)
    assert isinstance(result, ParseError)
    assert reason in result.reason


@pytest.mark.parametrize("conf, expected", [(0.7, 0.7), (1.5, None), (-0.1, None), ("high", None), (True, None)])
def test_confidence_outside_zero_one_becomes_none(conf, expected):
    result = parse_answer(json.dumps({"category": "Coding", "rationale": "r", "confidence": conf}), NAMES)
    assert isinstance(result, ParsedAnswer) and result.confidence == expected


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_answer_never_raises_on_arbitrary_text(text):
    result = parse_answer(text, NAMES)
    assert isinstance(result, (ParsedAnswer, ParseError))


@settings(max_examples=200, deadline=None)
@given(
    category=st.sampled_from(NAMES),
    rationale=st.text(max_size=200),
    confidence=st.floats(min_value=0, max_value=1),
    prefix=st.text(alphabet=st.characters(blacklist_characters="{"), max_size=40),
    fenced=st.booleans(),
)
def test_valid_json_answers_round_trip(category, rationale, confidence, prefix, fenced):
    body = json.dumps({"category": category, "rationale": rationale, "confidence": confidence})
    text = f"{prefix}```json\n{body}\n```" if fenced else f"{prefix}{body}"
    result = parse_answer(text, NAMES)
    assert result == ParsedAnswer(category, rationale.strip(), confidence)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_unknown_categories_are_errors(name):
    if " ".join(name.split()).casefold() in {n.casefold() for n in NAMES}:
        return
    result = parse_answer(json.dumps({"category": name, "rationale": "", "confidence": 0.5}), NAMES)
    assert isinstance(result, ParseError)


def test_prompt_hasher_gives_the_same_keys_as_prompt_hash():
    from annotator.llm.prompt import CategorySpec, prompt_hash, prompt_hasher

    cats = [CategorySpec("Coding", "code \u00e9", ["write SQL"]), CategorySpec("Other")]
    hasher = prompt_hasher("gpt-4o", cats)
    for text in ["", "user: hi", "user: \"quoted\" \u00fc\n\u2014 more", "x" * 40_000]:
        assert hasher(text) == prompt_hash("gpt-4o", cats, text)
    assert prompt_hasher("other-model", cats)("user: hi") != hasher("user: hi")
