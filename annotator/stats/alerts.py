"""Alert rules over a category's threads per period, with calibrated limits and multiplicity control.

A rule watches one category in one population (the caller filters the threads: department, role
group, role; a rule's ``filters`` only describe that filter) per day, week or month, and compares
each period with its trailing baseline of ``baseline_periods`` periods. Two tests per period:

- **Share test** (the category's share of the period's threads): the period's count is compared
  with its predictive distribution under "same share as the baseline", a beta-binomial whose mean
  is the baseline's pooled share (Jeffreys-smoothed: ``(x + 1/2) / (n + 1)``, so a 0% or 100%
  baseline stays finite) and whose spread allows for (i) the baseline share being estimated and
  (ii) overdispersion: week-to-week variation beyond binomial noise, estimated from the baseline as
  the quasi-binomial dispersion ``phi = max(1, Pearson X^2 / (B - 1))`` (McCullagh & Nelder 1989,
  sec. 4.5; the beta-binomial matching its variance, e.g. Williams 1982).
- **Count test** (the number of the category's threads, which finds spikes in a big category that
  barely move its share): the count is compared with a negative-binomial predictive distribution
  with the baseline's mean count (smoothed by 1/2) and quasi-Poisson dispersion ``max(1, s^2 /
  mean)``, widened for the estimated mean.

Each test gives an exact tail p-value in the rule's direction (two-sided: twice the smaller tail).
Alerts are decided over the whole family of tests evaluated together (every rule x population x
period x test) with the Benjamini-Hochberg false-discovery rate (default 5%; Holm's family-wise
control as an option), so on series with no change the chance of *any* alert in the family is at
most that level. The control and the number of tests are stated with the result.

A rule with ``method="ratio"`` also needs the share to move by at least ``threshold`` times
(effect-size floor); ``"zscore"`` (older stored rules) is evaluated as ``"calibrated"``.
``min_count`` guards against alerts on a handful of threads: an upward alert needs ``n_category
>= min_count``, a downward one a baseline expecting at least ``min_count`` threads; guarded tests
still count in the family. A period with no threads at all is never tested and is left out of the
baselines that cover it (a baseline needs 2 periods with threads). Pure functions on pandas frames;
every number returned is finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _sps

__all__ = [
    "AlertRule",
    "CONTROLS",
    "describe_rule",
    "evaluate_rule",
    "evaluate_rules",
    "family_statement",
    "weekly_series",
]

_WINDOWS = {"D": ("day", "daily"), "W": ("week", "weekly"), "M": ("month", "monthly")}
_METHODS = ("calibrated", "ratio", "zscore")
_DIRECTIONS = ("up", "down", "both")
_SERIES_COLUMNS = ("period", "n_category", "n_total")
CONTROLS = ("fdr", "fwer")
#: Default false-discovery (or family-wise) level over all tests evaluated together.
DEFAULT_LEVEL = 0.05


@dataclass(frozen=True)
class AlertRule:
    """One alert rule; see the module docstring for the tests."""

    name: str
    category: str
    window: str = "W"
    baseline_periods: int = 8
    method: str = "calibrated"
    threshold: float = 2.0
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
        scope = " among threads with " + ", ".join(f"{key} = {value}" for key, value in sorted(rule.filters.items()))
    moves = {"up": "rises", "down": "falls", "both": "rises or falls"}[rule.direction]
    effect = ""
    if rule.method == "ratio":
        effect = {
            "up": f" to at least {rule.threshold:g} times its share",
            "down": f" to at most 1/{rule.threshold:g} of its share",
            "both": f" to {rule.threshold:g} times or 1/{rule.threshold:g} of its share",
        }[rule.direction]
    return (
        f"{rule.name}: alert when the {adjective} share or count of '{rule.category}'{scope} {moves}{effect} "
        f"beyond what its previous {rule.baseline_periods} {unit}s predict, allowing for their "
        f"week-to-week spread (with at least {rule.min_count} threads; false discoveries controlled "
        "over all rules and periods)."
    )


def family_statement(control: str, level: float, n_tests: int, n_rules: int) -> str:
    """One sentence for the output: which multiplicity control, at what level, over how many tests."""
    if control == "fdr":
        how = f"Benjamini-Hochberg false-discovery rate {level:.0%}"
    else:
        how = f"Holm family-wise error rate {level:.0%}"
    return (f"{how} over {n_tests} tests ({n_rules} rule(s) x periods x share and count tests): on series "
            f"without real change, the chance of any alert among them is at most {level:.0%}.")


def evaluate_rule(
    rule: AlertRule, series: pd.DataFrame, *, control: str = "fdr", level: float = DEFAULT_LEVEL
) -> list[dict[str, Any]]:
    """The periods of ``series`` where ``rule`` fires, oldest first (the rule is its own family).

    Args:
        rule: the rule.
        series: one row per period, columns ``period`` (period start), ``n_category`` and
            ``n_total``; build it with :func:`weekly_series` so empty periods are present as zeros.

    Returns:
        One dict per alert (see :func:`evaluate_rules`); an empty list when the series is shorter
        than the baseline.
    """
    return evaluate_rules([(rule, series)], control=control, level=level)["alerts"][0]


def evaluate_rules(
    rules: list[tuple[AlertRule, pd.DataFrame]], *, control: str = "fdr", level: float = DEFAULT_LEVEL
) -> dict[str, Any]:
    """Evaluate several rules together, controlling false alerts over all their tests.

    Returns ``{"alerts": [list per rule], "n_tests", "control", "level", "statement"}``. One alert per
    rule and period, from its most significant test (``tests_fired`` lists every test that fired):
    ``rule, category, period (ISO date), test ("share"/"count"), direction ("up"/"down"), share,
    baseline_mean (pooled baseline share), expected_count, n_category, n_total, p_value,
    adjusted_p_value, dispersion, score (standardised difference), message``; all finite.
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    candidates: list[list[dict[str, Any]]] = []
    p_values: list[float] = []
    owners: list[tuple[int, int]] = []
    for r, (rule, series) in enumerate(rules):
        tests = _tests(rule, series)
        candidates.append(tests)
        for i, test in enumerate(tests):
            p_values.append(test["p_value"])
            owners.append((r, i))
    adjusted = _adjust(np.array(p_values, dtype=float), control)
    alerts: list[list[dict[str, Any]]] = [[] for _ in rules]
    for (r, i), q in zip(owners, adjusted):
        test = candidates[r][i]
        test["adjusted_p_value"] = float(q)
        if q <= level and test.pop("eligible"):
            alerts[r].append(test)
        else:
            test.pop("eligible", None)
    merged: list[list[dict[str, Any]]] = []
    for found in alerts:
        by_period: dict[str, dict[str, Any]] = {}
        for test in sorted(found, key=lambda a: (a["adjusted_p_value"], a["test"] != "share")):
            if test["period"] in by_period:
                by_period[test["period"]]["tests_fired"].append(test["test"])
            else:
                by_period[test["period"]] = {**test, "tests_fired": [test["test"]]}
        merged.append(sorted(by_period.values(), key=lambda a: a["period"]))
    alerts = merged
    return {"alerts": alerts, "n_tests": len(p_values), "control": control, "level": level,
            "statement": family_statement(control, level, len(p_values), len(rules))}


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


def _adjust(p: np.ndarray, control: str) -> np.ndarray:
    """Benjamini-Hochberg (step-up) or Holm (step-down) adjusted p-values, capped at 1."""
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if control == "fdr":
        adj = ranked * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(adj[::-1])[::-1]
    else:
        adj = ranked * (m - np.arange(m))
        adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


#: Periods (at most) from which the overdispersion of a rule's series is estimated.
DISPERSION_PERIODS = 26
#: The dispersion used is an upper confidence bound: Pearson X^2 over this lower chi-square quantile.
DISPERSION_QUANTILE = 0.1


def _directional(direction: str, up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if direction == "up":
        return up, np.full(up.shape, "up")
    if direction == "down":
        return down, np.full(up.shape, "down")
    return np.minimum(1.0, 2 * np.minimum(up, down)), np.where(up <= down, "up", "down")


def _tests(rule: AlertRule, series: pd.DataFrame) -> list[dict[str, Any]]:
    """Share and count tests of every testable period (vectorised over periods)."""
    missing = set(_SERIES_COLUMNS) - set(series.columns)
    if missing:
        raise ValueError(f"series is missing columns {sorted(missing)}")
    ordered = series.sort_values("period", kind="stable").reset_index(drop=True)
    periods = pd.to_datetime(ordered["period"])
    n_cat = ordered["n_category"].to_numpy(dtype=float)
    n_tot = ordered["n_total"].to_numpy(dtype=float)
    if (n_cat < 0).any() or (n_cat > n_tot).any():
        raise ValueError("need 0 <= n_category <= n_total in every period")
    B, D = rule.baseline_periods, max(DISPERSION_PERIODS, rule.baseline_periods)
    rows = []
    for t in range(B, len(ordered)):
        if n_tot[t] == 0:
            continue
        mean_win = slice(t - B, t)
        keep = n_tot[mean_win] > 0
        if keep.sum() < 2:
            continue
        disp_win = slice(max(0, t - D), t)
        disp_keep = n_tot[disp_win] > 0
        rows.append((t, n_cat[mean_win][keep], n_tot[mean_win][keep], n_cat[disp_win][disp_keep],
                     n_tot[disp_win][disp_keep]))
    if not rows:
        return []
    t_idx = np.array([r[0] for r in rows])
    x, n = n_cat[t_idx], n_tot[t_idx]
    # ---- share test: beta-binomial predictive and a Student-t check on the dispersion's df
    X = np.array([r[1].sum() for r in rows])
    Nb = np.array([r[2].sum() for r in rows])
    pooled = X / Nb
    smoothed = (X + 0.5) / (Nb + 1.0)
    phi, df = np.ones(len(rows)), np.ones(len(rows))
    for i, (_, _, _, dx, dn) in enumerate(rows):
        p_d = dx.sum() / dn.sum()
        df[i] = max(dx.size - 1, 1)
        if 0 < p_d < 1 and dx.size >= 2:
            pearson = float((((dx - dn * p_d) ** 2) / (dn * p_d * (1 - p_d))).sum())
            phi[i] = max(1.0, pearson / _sps.chi2.ppf(DISPERSION_QUANTILE, dx.size - 1))
    inflation = phi * (1 + n / Nb)
    kappa = np.maximum(np.where(inflation < n, (n - inflation) / (inflation - 1), 1e-3), 1e-3)
    dist = _sps.betabinom(n.astype(np.int64), kappa * smoothed, kappa * (1 - smoothed))
    up_exact = np.where(x > 0, dist.sf(x - 1), 1.0)
    down_exact = dist.cdf(x)
    expected = n * smoothed
    sd = np.sqrt(np.maximum(inflation * n * smoothed * (1 - smoothed), 1e-12))
    score = (x - expected) / sd
    up = np.maximum(up_exact, _sps.t.sf(score, df))
    down = np.maximum(down_exact, _sps.t.cdf(score, df))
    p_share, dir_share = _directional(rule.direction, np.clip(up, 0, 1), np.clip(down, 0, 1))
    # ---- count test: negative-binomial predictive and the same t check
    counts = [r[1] for r in rows]
    B_eff = np.array([c.size for c in counts], dtype=float)
    mean_c = np.array([c.mean() for c in counts])
    smoothed_c = (mean_c * B_eff + 0.5) / B_eff
    phi_c = np.ones(len(rows))
    for i, (_, _, _, dx, _) in enumerate(rows):
        if dx.size >= 2 and dx.mean() > 0:
            ratio = float(dx.var(ddof=1)) * (dx.size - 1) / float(dx.mean())
            phi_c[i] = max(1.0, ratio / _sps.chi2.ppf(DISPERSION_QUANTILE, dx.size - 1))
    variance = phi_c * smoothed_c * (1 + 1 / B_eff)
    prob = smoothed_c / variance
    size = smoothed_c * prob / (1 - prob)
    nb = _sps.nbinom(size, prob)
    score_c = (x - smoothed_c) / np.sqrt(variance)
    up_c = np.maximum(np.where(x > 0, nb.sf(x - 1), 1.0), _sps.t.sf(score_c, df))
    down_c = np.maximum(nb.cdf(x), _sps.t.cdf(score_c, df))
    p_count, dir_count = _directional(rule.direction, np.clip(up_c, 0, 1), np.clip(down_c, 0, 1))
    out: list[dict[str, Any]] = []
    for i, t in enumerate(t_idx):
        base = {"rule": rule.name, "category": rule.category, "period": periods[t].date().isoformat(),
                "n_category": int(x[i]), "n_total": int(n[i]), "share": float(x[i] / n[i])}
        eligible = x[i] >= rule.min_count if dir_share[i] == "up" else n[i] * pooled[i] >= rule.min_count
        if rule.method == "ratio":
            ratio = (x[i] / n[i]) / smoothed[i]
            eligible = eligible and (ratio >= rule.threshold if dir_share[i] == "up" else ratio <= 1 / rule.threshold)
        share = {**base, "test": "share", "direction": str(dir_share[i]), "p_value": float(p_share[i]),
                 "baseline_mean": float(pooled[i]), "expected_count": float(expected[i]),
                 "dispersion": float(phi[i]), "score": float(score[i]), "eligible": bool(eligible)}
        eligible_c = (x[i] >= rule.min_count if dir_count[i] == "up" else mean_c[i] >= rule.min_count)
        count = {**base, "test": "count", "direction": str(dir_count[i]), "p_value": float(p_count[i]),
                 "baseline_mean": float(pooled[i]), "expected_count": float(smoothed_c[i]),
                 "dispersion": float(phi_c[i]), "score": float(score_c[i]),
                 "eligible": bool(eligible_c and rule.method != "ratio")}
        for test in (share, count):
            test["message"] = _message(rule, periods[t], test)
            out.append(test)
    return out


def _message(rule: AlertRule, start: pd.Timestamp, test: dict[str, Any]) -> str:
    unit = _WINDOWS[rule.window][0]
    label = start.strftime("%B %Y") if rule.window == "M" else start.date().isoformat()
    moved = "rose" if test["direction"] == "up" else "fell"
    n_cat, n_tot = test["n_category"], test["n_total"]
    if test["test"] == "share":
        what = (f"'{rule.category}' {moved} to {_pct(test['share'])} of threads ({n_cat} of {n_tot}), against "
                f"{_pct(test['baseline_mean'])} over the previous {rule.baseline_periods} {unit}s")
    else:
        what = (f"'{rule.category}' {moved} to {n_cat} threads (of {n_tot}), against about "
                f"{test['expected_count']:.1f} a {unit} over the previous {rule.baseline_periods} {unit}s")
    return f"{unit.capitalize()} of {label}: {what} (p = {_p(test['p_value'])}, {test['test']} test)."


def _pct(value: float) -> str:
    """A share for a message, never rounded to 0% or 100% unless exact."""
    text = f"{100 * value:.1f}%"
    if text in ("0.0%", "100.0%") and value not in (0.0, 1.0):
        return "<0.1%" if value < 0.5 else ">99.9%"
    return text


def _p(value: float) -> str:
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"
