"""ISO 8601 durations: parsing and refusals, dates from an anchor (calendar months keep the anchor
day, exact parts add exactly), the next cycle after a moment, and the exact length in months."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.durations import (
    Interval,
    InvalidInterval,
    interval_in_months,
    next_cycle,
    parse_interval,
    period_start,
)

JAN_31 = datetime(2028, 1, 31, 9, 30, tzinfo=UTC)


def next_start(anchor: datetime, interval: Interval, after: datetime) -> datetime:
    """The first period start strictly later than `after`, as the auto top-up schedule arms it."""
    return period_start(anchor, interval, next_cycle(anchor, interval, after, inclusive=False))


@pytest.mark.parametrize(
    ("text", "months", "exact"),
    [
        ("P1M", 1, timedelta(0)),
        ("P1Y2M", 14, timedelta(0)),
        ("P1W", 0, timedelta(weeks=1)),
        ("P1DT12H", 0, timedelta(days=1, hours=12)),
        ("PT30M", 0, timedelta(minutes=30)),
        ("P1M15D", 1, timedelta(days=15)),
        ("P9Y", 108, timedelta(0)),
    ],
)
def test_durations_parse_into_months_and_an_exact_part(
    text: str, months: int, exact: timedelta
) -> None:
    assert parse_interval(text) == Interval(months=months, exact=exact)


@pytest.mark.parametrize(
    "text",
    [
        "", "P", "PT", "P1", "1M", "1D", "P-1D", "P1.5D", "P0D", "P11Y", "PT1", "P1DT",
        "PT1H1D", "monthly", "p1m", " P1M", "P123456M",
    ],
)  # fmt: skip
def test_malformed_empty_or_absurd_intervals_are_refused(text: str) -> None:
    with pytest.raises(InvalidInterval):
        parse_interval(text)


def test_refusals_are_value_errors_so_pydantic_answers_422() -> None:
    assert issubclass(InvalidInterval, ValueError)


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


def test_shortest_period_counts_a_month_as_28_days() -> None:
    assert parse_interval("P1M").shortest == timedelta(days=28)
    assert parse_interval("PT10S").shortest == timedelta(seconds=10)


def test_next_inclusive_cycle_is_the_next_billing_date() -> None:
    monthly = parse_interval("P1M")
    assert next_cycle(JAN_31, monthly, JAN_31 - timedelta(days=40), inclusive=True) == 0
    assert next_cycle(JAN_31, monthly, JAN_31, inclusive=True) == 0
    assert next_cycle(JAN_31, monthly, JAN_31 + timedelta(days=1), inclusive=True) == 1
    march_31 = datetime(2028, 3, 31, 9, 30, tzinfo=UTC)
    assert next_cycle(JAN_31, monthly, march_31, inclusive=True) == 2
    assert next_cycle(JAN_31, monthly, datetime(2030, 7, 1, tzinfo=UTC), inclusive=True) == 30


def test_monthly_slots_keep_the_anchor_day_or_the_month_end() -> None:
    anchor = datetime(2030, 1, 31, 9, tzinfo=UTC)
    monthly = parse_interval("P1M")
    feb_1, mar_1 = datetime(2030, 2, 1, tzinfo=UTC), datetime(2030, 3, 1, tzinfo=UTC)
    assert next_start(anchor, monthly, feb_1) == datetime(2030, 2, 28, 9, tzinfo=UTC)
    assert next_start(anchor, monthly, mar_1) == datetime(2030, 3, 31, 9, tzinfo=UTC)


def test_next_strict_cycle_is_after_the_moment_and_the_anchor_while_it_is_ahead() -> None:
    anchor = datetime(2030, 1, 1, tzinfo=UTC)
    daily = parse_interval("P1D")
    assert next_start(anchor, daily, anchor - timedelta(hours=1)) == anchor
    assert next_start(anchor, daily, anchor) == anchor + timedelta(days=1)
    late = anchor + timedelta(days=400, seconds=1)
    assert next_start(anchor, daily, late) == anchor + timedelta(days=401)


def test_next_cycle_matches_a_walk_from_the_anchor_for_mixed_intervals() -> None:
    for text in ("P1M", "P1M15D", "P1Y", "P2W", "PT6H", "P3M1DT1H"):
        interval = parse_interval(text)
        for days in (0, 1, 29, 31, 59, 365, 1000, 3000):
            moment = JAN_31 + timedelta(days=days, minutes=7)
            for inclusive in (True, False):
                walked = 0
                while (start := period_start(JAN_31, interval, walked)) < moment or (
                    start == moment and not inclusive
                ):
                    walked += 1
                assert next_cycle(JAN_31, interval, moment, inclusive=inclusive) == walked


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("P1M", Decimal(1)),
        ("P1Y", Decimal(12)),
        ("P1Y6M", Decimal(18)),
        ("P7D", Decimal(7) / Decimal("30.436875")),
        ("P1W", Decimal(7) / Decimal("30.436875")),
        ("PT12H", Decimal("0.5") / Decimal("30.436875")),
        ("P1M1D", 1 + 1 / Decimal("30.436875")),
    ],
)
def test_intervals_convert_to_months_exactly_with_the_mean_gregorian_month(
    text: str, months: Decimal
) -> None:
    assert interval_in_months(parse_interval(text)) == months


def test_a_year_of_days_is_twelve_months_to_the_last_digit() -> None:
    assert interval_in_months(parse_interval("P365DT5H49M12S")) == Decimal(12)
