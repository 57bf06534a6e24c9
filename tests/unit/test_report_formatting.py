"""Numbers printed honestly (reports/common.py): no boundary a value is not, no negative zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.reports.common import interval, num, pct


@pytest.mark.parametrize(("value", "text"), [
    (0.9996, "0.9996"), (1.0, "1.000"), (0.0, "0.000"), (-0.0, "0.000"), (-0.0003, "-0.0003"),
    (0.99999999, ">0.999999"), (1e-9, "<0.000001"), (-1e-9, ">-0.000001"), (0.5, "0.500"), (12.3456, "12.346"),
    (-0.99995, "-0.99995"), (None, "—"), (1234, "1,234"),
])
def test_num_never_rounds_to_a_boundary_it_is_not(value, text) -> None:
    assert num(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.9996, "99.96%"), (1.0, "100.0%"), (0.0, "0.0%"), (0.00001, "0.001%"), (0.9999999999, ">99.9999%"),
    (-0.0, "0.0%"), (0.5, "50.0%"),
])
def test_pct_never_shows_0_or_100_percent_unless_exact(value, text) -> None:
    assert pct(value) == text


def test_interval_formats_both_ends_and_withheld_ones() -> None:
    assert interval([0.2, 0.99996]) == "0.200 – 0.99996"
    assert interval([0.9, 1.0], percent=True) == "90.0% – 100.0%"
    assert interval([None, None]) == "—" and interval(None) == "—"


@given(st.floats(min_value=-1, max_value=1, allow_nan=False))
def test_printed_value_is_a_boundary_only_when_the_value_is(value: float) -> None:
    text = num(value)
    assert text != "-0.000"
    if text in ("1.000", "0.000", "-1.000"):
        assert value == float(text)
    share = pct(abs(value))
    if share in ("100.0%", "0.0%"):
        assert abs(value) in (1.0, 0.0)
