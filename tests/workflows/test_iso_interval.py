"""ISO 8601 intervals and their slots from an anchor, including calendar months."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.iso_interval import InvalidInterval, next_slot, parse_interval


@pytest.mark.parametrize(
    ("text", "months", "span"),
    [
        ("P1M", 1, timedelta(0)),
        ("P1Y2M", 14, timedelta(0)),
        ("P1W", 0, timedelta(weeks=1)),
        ("P1DT12H", 0, timedelta(days=1, hours=12)),
        ("PT30M", 0, timedelta(minutes=30)),
    ],
)
def test_durations_parse_into_months_and_a_span(text: str, months: int, span: timedelta):
    interval = parse_interval(text)
    assert (interval.months, interval.span) == (months, span)


@pytest.mark.parametrize("text", ["", "P", "PT", "P0D", "1D", "P1.5D", "PT1H1D", "monthly"])
def test_malformed_or_zero_durations_are_refused(text: str):
    with pytest.raises(InvalidInterval):
        parse_interval(text)


def test_monthly_slots_keep_the_anchor_day_or_the_month_end():
    anchor = datetime(2030, 1, 31, 9, tzinfo=UTC)
    monthly = parse_interval("P1M")
    assert next_slot(anchor, monthly, datetime(2030, 2, 1, tzinfo=UTC)) == datetime(
        2030, 2, 28, 9, tzinfo=UTC
    )
    assert next_slot(anchor, monthly, datetime(2030, 3, 1, tzinfo=UTC)) == datetime(
        2030, 3, 31, 9, tzinfo=UTC
    )


def test_next_slot_is_strictly_after_and_the_anchor_while_it_is_ahead():
    anchor = datetime(2030, 1, 1, tzinfo=UTC)
    daily = parse_interval("P1D")
    assert next_slot(anchor, daily, anchor - timedelta(hours=1)) == anchor
    assert next_slot(anchor, daily, anchor) == anchor + timedelta(days=1)
    assert next_slot(anchor, daily, anchor + timedelta(days=400, seconds=1)) == anchor + timedelta(
        days=401
    )
