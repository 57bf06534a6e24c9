"""Tests for annotator.stats.alerts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from annotator.stats.alerts import AlertRule, describe_rule, evaluate_rule, weekly_series

WEEKS = pd.date_range("2025-01-06", periods=30, freq="W-MON")


def flat_series(seed: int, share: float = 0.05, volume: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    totals = rng.poisson(volume, size=len(WEEKS))
    return pd.DataFrame({"period": WEEKS, "n_category": rng.binomial(totals, share), "n_total": totals})


def with_factor(series: pd.DataFrame, week: int, factor: float, seed: int) -> pd.DataFrame:
    """Redraw one week's count at ``factor`` times the 5% share."""
    out = series.copy()
    rng = np.random.default_rng(seed)
    out.loc[week, "n_category"] = rng.binomial(out.loc[week, "n_total"], 0.05 * factor)
    return out


@pytest.mark.parametrize("seed", range(10))
def test_flat_noisy_series_triggers_nothing(seed: int) -> None:
    series = flat_series(seed)
    for rule in (
        AlertRule("z", "Coding", direction="both"),
        AlertRule("r", "Coding", method="ratio", threshold=2.0, direction="up"),
    ):
        assert evaluate_rule(rule, series) == []


@pytest.mark.parametrize("seed", range(10))
def test_planted_spike_triggers_exactly_that_week(seed: int) -> None:
    series = with_factor(flat_series(seed), week=20, factor=3, seed=seed)
    alerts = evaluate_rule(AlertRule("spike", "Coding"), series)
    assert [a["period"] for a in alerts] == [WEEKS[20].date().isoformat()]
    share = alerts[0]
    assert "share" in share["tests_fired"]
    assert share["direction"] == "up" and share["score"] >= 3 and share["adjusted_p_value"] <= 0.05
    assert share["share"] == pytest.approx(share["n_category"] / share["n_total"])
    base = series.iloc[12:20]
    assert share["baseline_mean"] == pytest.approx(base["n_category"].sum() / base["n_total"].sum())
    assert "Week of 2025-05-26" in share["message"] and "'Coding' rose to" in share["message"]
    json.dumps(alerts, allow_nan=False)


def test_ratio_method_fires_on_the_spike_only() -> None:
    series = with_factor(flat_series(1), week=20, factor=3, seed=1)
    alerts = evaluate_rule(AlertRule("r", "Coding", method="ratio", threshold=2.0), series)
    assert [(a["period"], a["test"]) for a in alerts] == [("2025-05-26", "share")]
    assert alerts[0]["share"] / alerts[0]["baseline_mean"] >= 2
    # the same spike, but an effect-size floor it does not reach
    assert evaluate_rule(AlertRule("r", "Coding", method="ratio", threshold=5.0), series) == []


def test_periods_without_threads_are_skipped_not_alerted() -> None:
    series = flat_series(4)
    series.loc[[5, 6, 7, 15], ["n_category", "n_total"]] = 0
    assert evaluate_rule(AlertRule("g", "Coding", direction="both"), series) == []


def test_weekly_series_zero_fills_gaps_and_counts_all_threads() -> None:
    df = pd.DataFrame(
        {
            "created_at": pd.to_datetime(
                ["2025-01-07 09:00", "2025-01-12 23:59", "2025-01-13 00:00", "2025-02-03 12:00"]
            ),
            "category": ["Coding", "Other", None, "Coding"],
        }
    )
    series = weekly_series(df, category="Coding")
    assert series["period"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03",
    ]
    assert series["n_category"].tolist() == [1, 0, 0, 0, 1]
    assert series["n_total"].tolist() == [2, 1, 0, 0, 1]
    extended = weekly_series(df, category="Coding", end="2025-02-20")
    assert len(extended) == 7 and extended["n_total"].iloc[-2:].tolist() == [0, 0]


def test_weekly_series_by_month_day_and_local_zone() -> None:
    stamps = pd.to_datetime(["2025-01-31 23:30", "2025-03-01 00:10"]).tz_localize("America/Los_Angeles")
    df = pd.DataFrame({"created_at": stamps, "category": ["Coding", "Coding"]})
    months = weekly_series(df, category="Coding", period="M")
    assert months["period"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert months["n_total"].tolist() == [1, 0, 1]
    assert str(months["period"].dt.tz) == "America/Los_Angeles"
    assert len(weekly_series(df, category="Coding", period="D")) == 30
    empty = weekly_series(df.iloc[:0], category="Coding")
    assert list(empty.columns) == ["period", "n_category", "n_total"] and empty.empty


def test_series_from_rows_feeds_the_rule() -> None:
    rng = np.random.default_rng(8)
    rows = []
    for week, start in enumerate(WEEKS):
        n = 300
        share = 0.15 if week == 22 else 0.05
        cats = np.where(rng.random(n) < share, "Coding", "Other")
        times = start + pd.to_timedelta(rng.integers(0, 7 * 24 * 60, n), unit="min")
        rows.append(pd.DataFrame({"created_at": times, "category": cats}))
    series = weekly_series(pd.concat(rows), category="Coding")
    assert series["n_total"].tolist() == [300] * 30
    alerts = evaluate_rule(AlertRule("x", "Coding"), series)
    # the planted week fires with the largest score (once a true alert is in, BH lets a chance week in too)
    assert max(alerts, key=lambda a: a["score"])["period"] == WEEKS[22].date().isoformat()
    assert len({a["period"] for a in alerts}) <= 2


def test_describe_rule_says_what_it_watches() -> None:
    text = describe_rule(AlertRule("Clinical spike", "Answer Medical Knowledge Questions",
                                   filters={"role_group": "non-clinician"}))
    assert text.startswith("Clinical spike: alert when the weekly share or count of 'Answer Medical Knowledge "
                           "Questions' among threads with role_group = non-clinician rises beyond what its "
                           "previous 8 weeks predict")
    assert "false discoveries controlled" in text
    ratio = describe_rule(AlertRule("r", "Coding", window="M", method="ratio", threshold=2, direction="down"))
    assert "monthly share" in ratio and "at most 1/2 of its share" in ratio and "8 months" in ratio


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": "Y"}, "window must be one of"),
        ({"method": "cusum"}, "method must be one of"),
        ({"direction": "sideways"}, "direction must be one of"),
        ({"baseline_periods": 1}, "baseline_periods must be at least 2"),
        ({"method": "ratio", "threshold": 0.5}, "ratio threshold must be greater than 1"),
        ({"min_count": -1}, "min_count must be non-negative"),
    ],
)
def test_invalid_rules_are_rejected(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        AlertRule("bad", "Coding", **kwargs)


def test_inconsistent_series_is_rejected() -> None:
    bad = pd.DataFrame({"period": WEEKS[:2], "n_category": [5, 3], "n_total": [4, 3]})
    with pytest.raises(ValueError, match="n_category <= n_total"):
        evaluate_rule(AlertRule("b", "Coding"), bad)
    with pytest.raises(ValueError, match=r"missing columns \['n_total'\]"):
        evaluate_rule(AlertRule("b", "Coding"), bad.drop(columns="n_total"))


# --------------------------------------------------------------------------- #
# Calibration, multiplicity, edges
# --------------------------------------------------------------------------- #
from annotator.stats.alerts import _adjust, evaluate_rules  # noqa: E402

SHARES = np.array([0.539, 0.091, 0.067, 0.061, 0.059, 0.044, 0.035, 0.026, 0.020, 0.008, 0.05])
SHARES = SHARES / SHARES.sum()
YEAR = pd.date_range("2025-01-06", periods=52, freq="W-MON")


def overdispersed_year(rng: np.random.Generator, rho: float = 0.002, volume: int = 600, spike=None) -> list:
    """Weekly series per category; shares vary week to week (Dirichlet, intra-week correlation rho)."""
    totals = rng.poisson(volume, size=len(YEAR))
    counts = np.array([rng.multinomial(n, rng.dirichlet(SHARES * (1 - rho) / rho)) for n in totals])
    if spike is not None:
        k, week, extra = spike
        counts[week, k] += extra
        totals[week] += extra
    return [pd.DataFrame({"period": YEAR, "n_category": counts[:, k], "n_total": totals}) for k in range(SHARES.size)]


def test_adjusted_p_values_match_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(size=40) ** 3
    assert _adjust(p, "fdr") == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert _adjust(p, "fwer") == pytest.approx(multipletests(p, method="holm")[1])


def test_false_alarm_rate_on_flat_overdispersed_years_is_at_most_the_stated_level() -> None:
    rng = np.random.default_rng(2026)
    rules = [AlertRule(f"r{k}", f"c{k}", direction="both") for k in range(SHARES.size)]
    years, with_alarm, tests = 60, 0, 0
    for _ in range(years):
        result = evaluate_rules(list(zip(rules, overdispersed_year(rng))))
        with_alarm += any(result["alerts"])
        tests += result["n_tests"]
        assert "Benjamini-Hochberg false-discovery rate 5%" in result["statement"]
    # 11 rules x 44 weeks x 2 tests a year, about 58,000 tests in all
    assert tests > 50_000
    assert with_alarm / years <= 0.05


@pytest.mark.parametrize(("category", "extra"), [(0, 250), (8, 60)])
def test_planted_spikes_in_the_largest_and_a_small_category_are_found(category: int, extra: int) -> None:
    rng = np.random.default_rng(category)
    rules = [AlertRule(f"r{k}", f"c{k}") for k in range(SHARES.size)]
    found = 0
    for trial in range(10):
        week = 30 + trial
        result = evaluate_rules(list(zip(rules, overdispersed_year(rng, spike=(category, week, extra)))))
        found += any(a["period"] == YEAR[week].date().isoformat() for a in result["alerts"][category])
    assert found >= 9


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_zero_and_full_baselines_give_finite_values_and_valid_json(share: float) -> None:
    totals = np.full(20, 50)
    counts = (totals * share).astype(int)
    counts[15] = 20 if share == 0.0 else 30  # the category appears / others appear
    series = pd.DataFrame({"period": YEAR[:20], "n_category": counts, "n_total": totals})
    rule = AlertRule("edge", "Coding", direction="both")
    result = evaluate_rules([(rule, series)])
    text = json.dumps(result, allow_nan=False)
    assert "Infinity" not in text and "NaN" not in text
    alerts = result["alerts"][0]
    assert {a["period"] for a in alerts} == {YEAR[15].date().isoformat()}
    for alert in alerts:
        assert all(np.isfinite(v) for v in (alert["score"], alert["p_value"], alert["expected_count"]))
    assert ("rose" if share == 0.0 else "fell") in alerts[0]["message"]
