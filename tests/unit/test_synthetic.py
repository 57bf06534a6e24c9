"""Tests for the synthetic thread generator, the role grouping and the default codebook."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from annotator import synthetic
from annotator.synthetic import (
    CATEGORIES,
    CATEGORY_SHARES,
    CLINICIAN_ROLES,
    COLUMNS,
    EXCEL_CELL_LIMIT,
    LONG_THREAD_CHARS,
    generate_threads,
    role_group,
    write_threads,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "threads.csv"
CODEBOOK = ROOT / "sample_data" / "codebook.yaml"
SAMPLE_N, SAMPLE_SEED = 2500, 20240422
STUDY_ABSENT = ("Email & Document Writing", "Coding", "Technical Support & IT Issues",
                "Text Manipulation", "Brainstorming")
N = 20_000
STUDY_SHARES = {  # seed paper, Figure 1; Other is the remainder
    "Email & Document Writing": 0.539, "Text Manipulation": 0.091, "Brainstorming": 0.067,
    "Handle Information Requests": 0.061, "Answer Medical Knowledge Questions": 0.059,
    "Technical Support & IT Issues": 0.044, "Patient-Provider Messaging": 0.035, "Coding": 0.026,
    "Process Referrals & Documents": 0.020, "Generate Visual Aids": 0.008, "Other": 0.050,
}


def frame(n: int, seed: int, **kw) -> pd.DataFrame:
    return pd.concat(generate_threads(n, seed=seed, **kw), ignore_index=True)


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    """20,000 threads; read-only, shared only to save generation time."""
    return frame(N, seed=7)


# --- reproducibility and shape ------------------------------------------------


def test_same_seed_gives_same_frame_and_other_seed_differs():
    a = frame(3000, seed=11, chunk_size=1000)
    pd.testing.assert_frame_equal(a, frame(3000, seed=11, chunk_size=1000))
    assert (a["text"] != frame(3000, seed=12, chunk_size=1000)["text"]).mean() > 0.9


def test_chunks_are_bounded_and_ids_sequential():
    chunks = list(generate_threads(2500, seed=1, chunk_size=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    df = pd.concat(chunks, ignore_index=True)
    assert list(df.columns) == list(COLUMNS)
    assert df["thread_id"].tolist() == [f"T{i:07d}" for i in range(1, 2501)]
    assert df.notna().all().all()


def test_zero_threads_yield_nothing():
    assert list(generate_threads(0, seed=1)) == []


# --- realism targets ------------------------------------------------------------


def test_category_shares_match_study_within_sampling_error(big):
    observed = big["true_category"].value_counts(normalize=True)
    assert set(observed.index) == set(CATEGORIES)
    assert CATEGORY_SHARES == STUDY_SHARES
    for category, target in STUDY_SHARES.items():
        tolerance = 4 * math.sqrt(target * (1 - target) / N) + 0.002
        assert abs(observed[category] - target) <= tolerance, (category, observed[category])


def test_exactly_the_long_share_exceeds_32000_characters(big):
    long = big["text"].str.len() > LONG_THREAD_CHARS
    assert long.sum() == round(0.011 * N)
    assert long.mean() >= 0.01
    assert frame(1000, seed=3, long_share=0.0)["text"].str.len().max() < LONG_THREAD_CHARS


def test_frequent_users_produce_most_threads(big):
    per_user = big["user_id"].value_counts()
    frequent = per_user[per_user > 5]
    assert 0.84 <= frequent.sum() / N <= 0.90  # study: 26,691 / 30,503 = 0.875
    assert 0.25 <= len(frequent) / len(per_user) <= 0.5  # study: 20.7% .. 43.7% of users
    assert per_user.max() > 10 * per_user.median()  # skewed activity


def test_users_have_one_role_and_department_and_98_percent_are_non_clinicians(big):
    per_user = big.groupby("user_id")[["role", "department"]].nunique()
    assert (per_user == 1).all().all()
    groups = big.drop_duplicates("user_id")["role"].map(role_group)
    assert set(groups) == {"clinician", "non-clinician"}
    assert 0.97 <= (groups == "non-clinician").mean() <= 0.99
    assert big["role"].nunique() >= 25 and big["department"].nunique() >= 25


def test_departments_lean_towards_their_categories(big):
    share = pd.crosstab(big["department"], big["true_category"], normalize="index")
    assert share.loc["Information Services", "Coding"] > 4 * CATEGORY_SHARES["Coding"]
    assert share.loc["Interpreter Services", "Text Manipulation"] > 2.5 * CATEGORY_SHARES[
        "Text Manipulation"]
    assert share.loc["Revenue Cycle", "Email & Document Writing"] > share[
        "Email & Document Writing"].median()


def test_dates_are_utc_within_the_period_growing_and_weekday_heavy(big):
    created = big["created_at"]
    assert str(created.dt.tz) == "UTC"
    local = created.dt.tz_convert("America/Los_Angeles")
    assert local.min() >= pd.Timestamp("2024-04-22", tz="America/Los_Angeles")
    assert local.max() < pd.Timestamp("2025-03-01", tz="America/Los_Angeles")
    assert (local < pd.Timestamp("2024-07-22", tz="America/Los_Angeles")).sum() * 1.5 < (
        local >= pd.Timestamp("2024-11-28", tz="America/Los_Angeles")).sum()
    weekday = local.dt.day_of_week
    assert (weekday < 5).sum() / 5 > 3 * (weekday >= 5).sum() / 2
    assert 9 <= local.dt.hour.mode()[0] <= 15


def test_text_is_one_user_line_per_prompt_with_realistic_lengths(big):
    lines = big["text"].str.split("\n")
    assert lines.map(len).between(1, 6).all()
    assert lines.map(lambda ls: all(line.startswith("user: ") for line in ls)).all()
    assert lines.map(len).value_counts().index[0] == 1
    assert 150 <= big["text"].str.len().median() <= 600
    assert big["text"].map(str.isascii).mean() < 0.97  # accents, Spanish, emoji present
    assert big["text"].nunique() / N > 0.9


def _literal(text: str) -> str:
    """Regex for a template literal; a trailing "a " may have become "an " before a vowel."""
    return re.escape(text[:-2]) + "an? " if text.endswith(" a ") else re.escape(text)


def _first_prompt_patterns() -> dict[str, re.Pattern]:
    return {
        category: re.compile(
            "|".join(["(?:" + "(?:.+?)".join(map(_literal, literals)) + ")"
                      for literals, _ in synthetic._FIRST_C[category]]
                     + [re.escape(synthetic._LONG_INTRO[category])]),
            re.DOTALL,
        )
        for category in CATEGORIES
    }


def test_first_prompt_comes_from_the_true_category_templates(big):
    patterns = _first_prompt_patterns()
    sample = big.sample(3000, random_state=0)
    first = sample["text"].str.split("\n").str[0].str.removeprefix("user: ")
    matched = [bool(patterns[c].match(t)) for c, t in zip(sample["true_category"], first)]
    assert all(matched)


def test_some_threads_change_intent_in_the_second_prompt(big):
    patterns = _first_prompt_patterns()
    multi_turn = big[big["text"].str.count("\n") >= 1].sample(3000, random_state=1)
    second = multi_turn["text"].str.split("\n").str[1].str.removeprefix("user: ")
    switched = [any(patterns[o].fullmatch(t) for o in CATEGORIES if o != c)
                for c, t in zip(multi_turn["true_category"], second)]
    assert 0.10 <= sum(switched) / len(switched) <= 0.20  # MULTI_INTENT_SHARE is 0.15


def test_identifiers_in_text_are_obviously_synthetic(big):
    text = "\n".join(big["text"])
    mrns = re.findall(r"MRN\s+(\S+?)[,)\s]", text)
    assert mrns and all(re.fullmatch(r"SYN-\d{6}", m) for m in mrns)
    phones = re.findall(r"\(\d{3}\) \d{3}-\d{4}", text)
    assert phones and all(p[6:12] == "555-01" for p in phones)


# --- role_group ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "group"),
    [("Physician", "clinician"), ("nurse practitioner", "clinician"), (" M.D. ", "clinician"),
     ("CRNA", "clinician"), ("Certified Nurse Midwife", "clinician"),
     ("Registered Nurse", "non-clinician"), ("Pharmacist", "non-clinician"),
     ("Interpreter", "non-clinician"), ("Physician Liaison", "non-clinician"),
     ("", "unknown"), ("   ", "unknown"), (None, "unknown")],
)
def test_role_group_follows_the_study_definition(role, group):
    assert role_group(role) == group


def test_every_clinician_role_maps_to_clinician_and_role_group_needs_no_pandas():
    assert all(role_group(r) == "clinician" for r in CLINICIAN_ROLES)
    code = "import sys, annotator.synthetic as s; s.role_group('Physician'); " \
           "sys.exit('pandas' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- files ------------------------------------------------------------------------


def test_committed_sample_equals_what_the_cli_generates(tmp_path):
    out = tmp_path / "threads.csv"
    result = subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "generate.py"), "--n", str(SAMPLE_N),
         "--seed", str(SAMPLE_SEED), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    expected = f"wrote {SAMPLE_N} synthetic threads to {out} (seed {SAMPLE_SEED})"
    assert result.stdout.strip() == expected
    assert out.read_bytes() == SAMPLE.read_bytes()
    back = pd.read_csv(SAMPLE)
    assert list(back.columns) == list(COLUMNS) and len(back) == SAMPLE_N
    assert back["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00").all()


def test_cli_rejects_bad_arguments_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "generate.py"), "--n", "5", "--seed", "1",
         "--out", str(tmp_path / "x.txt")], capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot tell the format of x.txt" in result.stderr


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.jsonl", "t.parquet", "t.xlsx"])
def test_every_format_round_trips(tmp_path, name):
    kw = {"chunk_size": 70, "long_share": 0.05}
    expected = frame(200, seed=5, **kw)
    assert write_threads(tmp_path / name, 200, 5, **kw) == 200
    path = tmp_path / name
    if name.endswith((".csv", ".gz")):
        back = pd.read_csv(path)
    elif name.endswith(".jsonl"):
        back = pd.read_json(path, lines=True, dtype=False)
    elif name.endswith(".parquet"):
        back = pd.read_parquet(path)
        assert str(back["created_at"].dt.tz) == "UTC"
        pd.testing.assert_series_equal(back["created_at"], expected["created_at"],
                                       check_dtype=False)
    else:
        back = pd.read_excel(path)
    assert back["thread_id"].tolist() == expected["thread_id"].tolist()
    assert back["true_category"].tolist() == expected["true_category"].tolist()
    if name.endswith(".xlsx"):
        assert back["text"].str.len().max() == EXCEL_CELL_LIMIT
        assert back["text"].tolist() == [t[:EXCEL_CELL_LIMIT] for t in expected["text"]]
    else:
        assert back["text"].tolist() == expected["text"].tolist()


def test_gzip_output_is_byte_reproducible(tmp_path):
    write_threads(tmp_path / "a.csv.gz", 300, 9)
    write_threads(tmp_path / "b.csv.gz", 300, 9)
    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="n >= 0"):
        list(generate_threads(-1, seed=1))
    with pytest.raises(ValueError, match="long_share"):
        list(generate_threads(10, seed=1, long_share=1.0))
    with pytest.raises(ValueError, match="before start"):
        list(generate_threads(10, seed=1, start="2025-01-02", end="2025-01-01"))
    with pytest.raises(ValueError, match="unknown format 'xls'"):
        write_threads(tmp_path / "x.csv", 10, 1, fmt="xls")
    with pytest.raises(ValueError, match="at most 1,048,575 rows"):
        write_threads(tmp_path / "x.xlsx", 1_048_576, 1)


# --- codebook ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def codebook() -> dict:
    return yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))


def test_codebook_has_the_eleven_categories_in_keyboard_order(codebook):
    assert codebook["name"] == "Default usage codebook"
    assert isinstance(codebook["note"], str) and codebook["note"]
    assert tuple(c["name"] for c in codebook["categories"]) == CATEGORIES


def test_codebook_categories_have_definition_three_examples_and_medhelm_fields(codebook):
    for c in codebook["categories"]:
        assert set(c) == {"name", "definition", "examples", "medhelm_category",
                          "medhelm_subcategory"}
        assert 2 <= c["definition"].count(". ") + 1 <= 4 and len(c["definition"]) > 150
        assert len(c["examples"]) == 3 and all(isinstance(e, str) and e for e in c["examples"])
        assert isinstance(c["medhelm_category"], str) and c["medhelm_category"]
        assert isinstance(c["medhelm_subcategory"], str)


def test_codebook_maps_study_absent_uses_to_administration_and_other_unmapped(codebook):
    by_name = {c["name"]: c for c in codebook["categories"]}
    for name in STUDY_ABSENT:
        assert by_name[name]["medhelm_category"] == "Administration & Workflow"
        assert by_name[name]["medhelm_subcategory"].endswith("(proposed)")
    assert by_name["Other"]["medhelm_category"] == "Unmapped"
    assert by_name["Other"]["medhelm_subcategory"] == ""
    proposed = [c["name"] for c in codebook["categories"]
                if c["medhelm_subcategory"].endswith("(proposed)")]
    assert sorted(proposed) == sorted(STUDY_ABSENT)
