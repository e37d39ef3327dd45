"""ISO 8601 durations with calendar parts (`P1M`, `P1W`, `PT6H`, `P1DT12H`) and the slots of an
interval repeated from an anchor. Pure functions: safe inside workflows and at the API edge."""

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
AVERAGE_MONTH = timedelta(days=30.436875)


class InvalidInterval(ValueError):
    """The text is not an ISO 8601 duration this system understands, or it is zero."""


@dataclass(frozen=True)
class Interval:
    """Whole calendar months plus an exact time span."""

    months: int
    span: timedelta

    @property
    def approximate(self) -> timedelta:
        return self.months * AVERAGE_MONTH + self.span


def parse_interval(text: str) -> Interval:
    match = _DURATION.match(text)
    if match is None:
        raise InvalidInterval(f"{text!r} is not an ISO 8601 duration such as P1D, P1M or PT6H")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    interval = Interval(
        months=parts.get("years", 0) * 12 + parts.get("months", 0),
        span=timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        ),
    )
    if interval.months == 0 and interval.span <= timedelta(0):
        raise InvalidInterval(f"{text!r} is a zero duration")
    return interval


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day when it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def slot(anchor: datetime, interval: Interval, index: int) -> datetime:
    """The anchor moved on by `index` whole intervals (months counted from the anchor)."""
    return add_months(anchor, interval.months * index) + interval.span * index


def next_slot(anchor: datetime, interval: Interval, after: datetime) -> datetime:
    """The first slot strictly later than `after` (the anchor itself when it is still ahead)."""
    if anchor > after:
        return anchor
    index = max(int((after - anchor) / interval.approximate) - 1, 0)
    while slot(anchor, interval, index) <= after:
        index += 1
    return slot(anchor, interval, index)
