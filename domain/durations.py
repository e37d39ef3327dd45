"""ISO 8601 durations with calendar units (`P1M`, `P1Y`, `P2W`, `P7D`, `PT30S`, `P1M15D`), the
dates they produce from an anchor, and their exact length in months.

Cycle n starts at anchor + n x interval, computed from the anchor every time, so a month-end
anchor keeps its day: Jan 31 + P1M = Feb 28 (or 29), + P2M = Mar 31. Pure and deterministic:
workflows, the API, the activities and the finance figures all use it.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

_DURATION = re.compile(
    r"^P(?:(?P<years>\d{1,4})Y)?(?:(?P<months>\d{1,5})M)?(?:(?P<weeks>\d{1,5})W)?"
    r"(?:(?P<days>\d{1,6})D)?(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?"
    r"(?:(?P<seconds>\d{1,10})S)?)?$"
)
MAX_INTERVAL = timedelta(days=3660)  # ten years: longer is a mistake, not a billing plan
# The mean Gregorian month: 365.2425 days / 12.
DAYS_PER_MONTH = Decimal("30.436875")
SECONDS_PER_DAY = 86400


class InvalidInterval(ValueError):
    """The text is not an ISO 8601 duration tokenbill can bill by."""


@dataclass(frozen=True)
class Interval:
    """A calendar part (months) applied from the anchor, and an exact part (days and time)."""

    months: int
    exact: timedelta

    @property
    def shortest(self) -> timedelta:
        """The shortest period this interval can produce (a month counts as 28 days)."""
        return timedelta(days=28 * self.months) + self.exact

    @property
    def longest(self) -> timedelta:
        return timedelta(days=31 * self.months) + self.exact


def parse_interval(text: str) -> Interval:
    """`P1M`, `P1Y`, `P2W`, `P7D`, `PT30S`, `P1M15D` ...; no fractions, no negative values."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise InvalidInterval(f"{text!r} is not an ISO 8601 duration such as P1M, P7D or PT30S")
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    interval = Interval(
        months=12 * parts["years"] + parts["months"],
        exact=timedelta(
            weeks=parts["weeks"],
            days=parts["days"],
            hours=parts["hours"],
            minutes=parts["minutes"],
            seconds=parts["seconds"],
        ),
    )
    if interval.shortest <= timedelta(0):
        raise InvalidInterval(f"{text!r} is an empty duration")
    if interval.longest > MAX_INTERVAL:
        raise InvalidInterval(f"{text!r} is longer than ten years")
    return interval


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the last day of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_start(anchor: datetime, interval: Interval, cycle: int) -> datetime:
    """The start of period `cycle` (0 is the first), counted from the anchor."""
    return add_months(anchor, interval.months * cycle) + interval.exact * cycle


def next_cycle(anchor: datetime, interval: Interval, moment: datetime, *, inclusive: bool) -> int:
    """The first cycle whose period starts after `moment`, or at it when `inclusive`."""
    # A month is at most 31 days, so this first guess never passes the answer.
    cycle = max(0, int((moment - anchor) / interval.longest) - 1)
    while (start := period_start(anchor, interval, cycle)) < moment or (
        start == moment and not inclusive
    ):
        cycle += 1
    return cycle


def interval_in_months(interval: Interval) -> Decimal:
    """`P1M` -> 1, `P1Y` -> 12, `P7D` -> 7 / 30.436875: days and shorter count the mean month."""
    exact = interval.exact
    seconds = exact.seconds + Decimal(exact.microseconds) / 1_000_000
    days = exact.days + seconds / SECONDS_PER_DAY
    return interval.months + days / DAYS_PER_MONTH
