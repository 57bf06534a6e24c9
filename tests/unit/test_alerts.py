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
    alert = alerts[0]
    assert alert["direction"] == "up" and alert["score"] >= 3
    assert alert["share"] == pytest.approx(alert["n_category"] / alert["n_total"])
    assert alert["baseline_mean"] == pytest.approx(
        (series["n_category"] / series["n_total"]).iloc[12:20].mean()
    )
    assert "Week of 2025-05-26" in alert["message"] and "'Coding' rose to" in alert["message"]
    json.dumps(alerts, allow_nan=False)


def test_ratio_method_fires_on_the_spike_only() -> None:
    series = with_factor(flat_series(1), week=20, factor=3, seed=1)
    alerts = evaluate_rule(AlertRule("r", "Coding", method="ratio", threshold=2.0), series)
    assert [a["period"] for a in alerts] == ["2025-05-26"]
    assert alerts[0]["score"] == pytest.approx(alerts[0]["share"] / alerts[0]["baseline_mean"])
    assert "times the baseline" in alerts[0]["message"]


def test_down_direction_catches_a_drop_and_up_ignores_it() -> None:
    # 2,000 threads a week; with 400 a drop to 0 from 4.4% can stay under z = 3
    # when the 8-week baseline happens to be noisy (seed 2 does that)
    series = with_factor(flat_series(2, volume=2_000), week=25, factor=0.0, seed=2)
    down = evaluate_rule(AlertRule("d", "Coding", direction="down"), series)
    assert [(a["period"], a["direction"]) for a in down] == [(WEEKS[25].date().isoformat(), "down")]
    assert "fell to 0.0%" in down[0]["message"]
    assert evaluate_rule(AlertRule("u", "Coding", direction="up"), series) == []
    ratio = evaluate_rule(AlertRule("r", "Coding", method="ratio", threshold=2, direction="down"), series)
    assert [a["period"] for a in ratio] == [WEEKS[25].date().isoformat()]


def test_min_count_suppresses_alerts_on_few_threads() -> None:
    # a category at 0 then 4 threads out of 100: a large z but under min_count 5
    series = pd.DataFrame({"period": WEEKS[:10], "n_category": [0] * 9 + [4], "n_total": [100] * 10})
    assert evaluate_rule(AlertRule("m", "Coding", min_count=5), series) == []
    fired = evaluate_rule(AlertRule("m", "Coding", min_count=4), series)
    assert [a["n_category"] for a in fired] == [4]
    assert np.isfinite(fired[0]["score"])  # the floored baseline keeps the score finite


def test_binomial_floor_keeps_a_perfectly_flat_baseline_quiet() -> None:
    # exactly 5% for 8 weeks (sd 0), then 6%: within binomial noise of 400 threads
    series = pd.DataFrame({"period": WEEKS[:9], "n_category": [20] * 8 + [24], "n_total": [400] * 9})
    assert evaluate_rule(AlertRule("f", "Coding"), series) == []
    series.loc[8, "n_category"] = 45  # 11%: z about 5.5 against the binomial sd
    assert len(evaluate_rule(AlertRule("f", "Coding"), series)) == 1


def test_empty_and_short_series_give_no_alerts() -> None:
    empty = pd.DataFrame({"period": pd.to_datetime([]), "n_category": [], "n_total": []})
    assert evaluate_rule(AlertRule("e", "Coding"), empty) == []
    short = flat_series(3).iloc[:8]
    short.loc[7, "n_category"] = short.loc[7, "n_total"]
    assert evaluate_rule(AlertRule("s", "Coding", baseline_periods=8), short) == []


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
    # the planted week fires with the largest score (a chance week may fire too)
    assert max(alerts, key=lambda a: a["score"])["period"] == WEEKS[22].date().isoformat()
    assert len(alerts) <= 2


def test_describe_rule_says_what_it_watches() -> None:
    text = describe_rule(AlertRule("Clinical spike", "Answer Medical Knowledge Questions",
                                   filters={"role_group": "non-clinician"}))
    assert text == (
        "Clinical spike: alert when the weekly share of 'Answer Medical Knowledge Questions' among "
        "threads with role_group = non-clinician rises 3 standard deviations above its mean over "
        "the previous 8 weeks (with at least 5 threads)."
    )
    ratio = describe_rule(AlertRule("r", "Coding", window="M", method="ratio", threshold=2, direction="down"))
    assert "monthly share" in ratio and "falls to 1/2 of" in ratio and "8 months" in ratio


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
