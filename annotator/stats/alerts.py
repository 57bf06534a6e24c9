"""Alert rules over a category's share of threads per period.

A rule watches one category's share of all threads (``n_category / n_total``)
per day, week or month, and fires when a period departs from its trailing
baseline of ``baseline_periods`` periods. Measures:

- ``"zscore"``: ``(share - mean) / sd`` with ``mean`` and ``sd`` (ddof=1) of
  the baseline shares (a Shewhart-type control chart; Montgomery,
  *Introduction to Statistical Quality Control*, 7th ed., 2013, ch. 6). ``sd``
  is floored at the binomial sampling sd of the current period at the baseline
  rate, ``sqrt(p (1 - p) / n_total)`` (the p-chart limit, ibid. ch. 7), so a
  flat baseline does not turn noise into alerts; ``p`` is the baseline mean,
  itself floored at half a thread over the baseline's volume so that a
  category first appearing gives a finite score. The spread is then widened by
  ``sqrt(1 + 1/B)`` for a baseline of B periods, the prediction-interval
  factor for a new observation when the mean is estimated (in simulation
  about 0.26% of periods fire, either direction, at threshold 3 on pure
  binomial noise at a 5% share of 400 threads a week).
- ``"ratio"``: ``share / mean`` (same floor on ``mean``); ``"up"`` fires at
  ``ratio >= threshold``, ``"down"`` at ``ratio <= 1 / threshold``. It ignores
  sampling noise apart from ``min_count``, so it suits large volumes.

``min_count`` guards against alerts on a handful of threads: an upward alert
needs ``n_category >= min_count``; a downward alert needs the baseline to
predict at least ``min_count`` threads (``mean * n_total``). A period with no
threads at all has no share: it is never alerted, and it is left out of the
baselines that cover it (a baseline needs 2 defined shares).

The caller filters the threads (department, role group, role); a rule's
``filters`` only describe that filter. Pure functions on pandas frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["AlertRule", "describe_rule", "evaluate_rule", "weekly_series"]

_WINDOWS = {"D": ("day", "daily"), "W": ("week", "weekly"), "M": ("month", "monthly")}
_METHODS = ("zscore", "ratio")
_DIRECTIONS = ("up", "down", "both")
_SERIES_COLUMNS = ("period", "n_category", "n_total")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule; see the module docstring for the measures."""

    name: str
    category: str
    window: str = "W"
    baseline_periods: int = 8
    method: str = "zscore"
    threshold: float = 3.0
    direction: str = "up"
    min_count: int = 5
    filters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window not in _WINDOWS:
            raise ValueError(f"window must be one of {tuple(_WINDOWS)}, got {self.window!r}")
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, got {self.direction!r}")
        if self.baseline_periods < 2:
            raise ValueError("baseline_periods must be at least 2")
        if self.method == "ratio" and not self.threshold > 1:
            raise ValueError("a ratio threshold must be greater than 1")
        if not self.threshold > 0:
            raise ValueError("threshold must be positive")
        if self.min_count < 0:
            raise ValueError("min_count must be non-negative")


def describe_rule(rule: AlertRule) -> str:
    """Describe a rule in one plain sentence, for the dashboard and reports."""
    unit, adjective = _WINDOWS[rule.window]
    scope = ""
    if rule.filters:
        scope = " among threads with " + ", ".join(
            f"{key} = {value}" for key, value in sorted(rule.filters.items())
        )
    moves = {"up": "rises", "down": "falls", "both": "rises or falls"}[rule.direction]
    if rule.method == "zscore":
        where = {"up": "above", "down": "below", "both": "away from"}[rule.direction]
        change = f"{rule.threshold:g} standard deviations {where}"
    else:
        factor = {
            "up": f"to {rule.threshold:g} times",
            "down": f"to 1/{rule.threshold:g} of",
            "both": f"to {rule.threshold:g} times or 1/{rule.threshold:g} of",
        }[rule.direction]
        change = factor
    return (
        f"{rule.name}: alert when the {adjective} share of '{rule.category}'{scope} "
        f"{moves} {change} its mean over the previous {rule.baseline_periods} {unit}s "
        f"(with at least {rule.min_count} threads)."
    )


def evaluate_rule(rule: AlertRule, series: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the periods of ``series`` where ``rule`` fires, oldest first.

    Args:
        rule: the rule.
        series: one row per period, columns ``period`` (period start),
            ``n_category`` and ``n_total``; build it with :func:`weekly_series`
            so empty periods are present as zeros. Rows are sorted by period.

    Returns:
        One dict per alert: ``rule``, ``category``, ``period`` (ISO date),
        ``share``, ``baseline_mean``, ``baseline_std``, ``score`` (z or ratio),
        ``direction`` (``"up"``/``"down"``), ``n_category``, ``n_total``,
        ``message``. Plain JSON types; an empty list when the series is
        shorter than the baseline.
    """
    missing = set(_SERIES_COLUMNS) - set(series.columns)
    if missing:
        raise ValueError(f"series is missing columns {sorted(missing)}")
    ordered = series.sort_values("period", kind="stable").reset_index(drop=True)
    periods = pd.to_datetime(ordered["period"])
    n_cat = ordered["n_category"].to_numpy(dtype=float)
    n_tot = ordered["n_total"].to_numpy(dtype=float)
    if (n_cat < 0).any() or (n_cat > n_tot).any():
        raise ValueError("need 0 <= n_category <= n_total in every period")
    share = np.divide(n_cat, n_tot, out=np.full(n_cat.size, np.nan), where=n_tot > 0)
    alerts = []
    for t in range(rule.baseline_periods, len(ordered)):
        if n_tot[t] == 0:
            continue
        window = slice(t - rule.baseline_periods, t)
        base, base_tot = share[window], n_tot[window]
        defined = ~np.isnan(base)
        if defined.sum() < 2:
            continue
        alert = _score(rule, share[t], n_cat[t], n_tot[t], base[defined], base_tot[defined].sum())
        if alert is None:
            continue
        mean, sd, score, direction = alert
        alerts.append(
            {
                "rule": rule.name,
                "category": rule.category,
                "period": periods[t].date().isoformat(),
                "share": float(share[t]),
                "baseline_mean": mean,
                "baseline_std": sd,
                "score": score,
                "direction": direction,
                "n_category": int(n_cat[t]),
                "n_total": int(n_tot[t]),
                "message": _message(
                    rule, periods[t], share[t], n_cat[t], n_tot[t], mean, score, direction
                ),
            }
        )
    return alerts


def weekly_series(
    df: pd.DataFrame,
    *,
    category: str,
    period: str = "W",
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Count a category's threads and all threads per period, empty periods included.

    Args:
        df: one row per thread, columns ``created_at`` (datetime, naive or
            timezone-aware; periods start at local midnight of that zone) and
            ``category`` (may be missing for unclassified threads, which still
            count in ``n_total``).
        category: the category to count.
        period: ``"D"`` (days), ``"W"`` (weeks starting Monday) or ``"M"``
            (calendar months).
        start, end: optional range to cover beyond the data (for example up
            to today, so that recent empty periods show as zeros).

    Returns:
        DataFrame with columns ``period`` (period start), ``n_category``,
        ``n_total``, one row per period from the first to the last, zero-filled.
    """
    if period not in _WINDOWS:
        raise ValueError(f"period must be one of {tuple(_WINDOWS)}, got {period!r}")
    missing = {"created_at", "category"} - set(df.columns)
    if missing:
        raise ValueError(f"df is missing columns {sorted(missing)}")
    stamps = pd.to_datetime(df["created_at"])
    if stamps.isna().any():
        raise ValueError("created_at has missing timestamps")
    starts = _period_start(stamps, period)
    bounds = [
        _period_start(pd.Series([pd.Timestamp(b)]), period).iloc[0]
        for b in (start, end)
        if b is not None
    ]
    if not len(starts) and not bounds:
        return pd.DataFrame(
            {"period": pd.Series([], dtype="datetime64[ns]"), "n_category": 0, "n_total": 0}
        ).astype({"n_category": "int64", "n_total": "int64"})
    first = min([*bounds, *([starts.min()] if len(starts) else [])])
    last = max([*bounds, *([starts.max()] if len(starts) else [])])
    freq = {"D": "D", "W": "W-MON", "M": "MS"}[period]
    index = pd.date_range(first, last, freq=freq, name="period")
    is_cat = (df["category"] == category).fillna(False).to_numpy(dtype=bool)
    totals = starts.value_counts().reindex(index, fill_value=0)
    hits = starts[is_cat].value_counts().reindex(index, fill_value=0)
    return pd.DataFrame(
        {
            "period": index,
            "n_category": hits.to_numpy(dtype="int64"),
            "n_total": totals.to_numpy(dtype="int64"),
        }
    )


# --------------------------------------------------------------------------- #
# Private helpers
# --------------------------------------------------------------------------- #
def _period_start(stamps: pd.Series, period: str) -> pd.Series:
    """Start of the day, Monday-week or month holding each timestamp (same zone)."""
    day = stamps.dt.normalize()
    if period == "W":
        return day - pd.to_timedelta(stamps.dt.day_of_week, unit="D")
    if period == "M":
        return day - pd.to_timedelta(stamps.dt.day - 1, unit="D")
    return day


def _score(
    rule: AlertRule, share: float, n_cat: float, n_tot: float, base: np.ndarray, base_volume: float
) -> tuple[float, float, float, str] | None:
    """Return ``(mean, sd, score, direction)`` if the period fires, else None."""
    mean = float(base.mean())
    sd = float(base.std(ddof=1))
    p = max(mean, 0.5 / base_volume)
    if rule.method == "zscore":
        spread = max(sd, float(np.sqrt(p * (1 - p) / n_tot))) * np.sqrt(1 + 1 / base.size)
        score = (share - mean) / spread
        up, down = score >= rule.threshold, score <= -rule.threshold
    else:
        score = share / p
        up, down = score >= rule.threshold, score <= 1 / rule.threshold
    if up and rule.direction in ("up", "both") and n_cat >= rule.min_count:
        return mean, sd, float(score), "up"
    if down and rule.direction in ("down", "both") and mean * n_tot >= rule.min_count:
        return mean, sd, float(score), "down"
    return None


def _message(
    rule: AlertRule,
    start: pd.Timestamp,
    share: float,
    n_cat: float,
    n_tot: float,
    mean: float,
    score: float,
    direction: str,
) -> str:
    unit = _WINDOWS[rule.window][0]
    label = start.strftime("%B %Y") if rule.window == "M" else start.date().isoformat()
    moved = "rose" if direction == "up" else "fell"
    measure = f"z = {score:.1f}" if rule.method == "zscore" else f"{score:.1f} times the baseline"
    return (
        f"{unit.capitalize()} of {label}: '{rule.category}' {moved} to {share:.1%} of threads "
        f"({int(n_cat)} of {int(n_tot)}), against {mean:.1%} on average over the previous "
        f"{rule.baseline_periods} {unit}s ({measure})."
    )
