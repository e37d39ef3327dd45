"""Billing dates from an anchor: calendar months keep the anchor day, exact parts add exactly."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.billing_calendar import (
    InvalidInterval,
    first_cycle_not_before,
    parse_interval,
    period_start,
)

JAN_31 = datetime(2028, 1, 31, 9, 30, tzinfo=UTC)


def test_month_end_anchor_is_clamped_per_month_and_never_drifts() -> None:
    monthly = parse_interval("P1M")
    assert [period_start(JAN_31, monthly, n).date().isoformat() for n in range(5)] == [
        "2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31",
    ]  # fmt: skip
    assert period_start(datetime(2027, 1, 31, tzinfo=UTC), monthly, 1).day == 28


def test_years_weeks_days_and_time_parts_are_understood() -> None:
    assert period_start(JAN_31, parse_interval("P1Y"), 1) == JAN_31.replace(year=2029)
    assert period_start(JAN_31, parse_interval("P2W"), 1) == JAN_31 + timedelta(days=14)
    assert period_start(JAN_31, parse_interval("PT10S"), 3) == JAN_31 + timedelta(seconds=30)
    mixed = parse_interval("P1M1DT1H")
    assert period_start(JAN_31, mixed, 1) == datetime(2028, 3, 1, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1", "1M", "P-1D", "P1.5D", "P0D", "P11Y", "PT1"])
def test_malformed_empty_or_absurd_intervals_are_refused(text: str) -> None:
    with pytest.raises(InvalidInterval):
        parse_interval(text)


def test_shortest_period_counts_a_month_as_28_days() -> None:
    assert parse_interval("P1M").shortest == timedelta(days=28)
    assert parse_interval("PT10S").shortest == timedelta(seconds=10)


def test_first_cycle_not_before_finds_the_next_billing_date() -> None:
    monthly = parse_interval("P1M")
    assert first_cycle_not_before(JAN_31, monthly, JAN_31) == 0
    assert first_cycle_not_before(JAN_31, monthly, JAN_31 + timedelta(days=1)) == 1
    assert first_cycle_not_before(JAN_31, monthly, datetime(2028, 3, 31, 9, 30, tzinfo=UTC)) == 2
    assert first_cycle_not_before(JAN_31, monthly, datetime(2030, 7, 1, tzinfo=UTC)) == 30
