"""Billing intervals as ISO 8601 durations with calendar units, and the dates they produce.

Period n starts at anchor + n x interval, computed from the anchor every time, so a month-end
anchor keeps its day: Jan 31 + P1M = Feb 28 (or 29), + P2M = Mar 31. Pure and deterministic: the
workflow, the API and the activities all use it.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"^P(?:(?P<years>\d{1,4})Y)?(?:(?P<months>\d{1,5})M)?(?:(?P<weeks>\d{1,5})W)?"
    r"(?:(?P<days>\d{1,6})D)?(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?"
    r"(?:(?P<seconds>\d{1,10})S)?)?$"
)
MAX_INTERVAL = timedelta(days=3660)  # ten years: longer is a mistake, not a billing plan


class InvalidInterval(ValueError):
    """The text is not an ISO 8601 duration tokenbill can bill by."""


@dataclass(frozen=True)
class BillingInterval:
    """A calendar part (months) applied from the anchor, and an exact part (days and time)."""

    months: int
    exact: timedelta
    text: str

    @property
    def shortest(self) -> timedelta:
        """The shortest period this interval can produce (a month counts as 28 days)."""
        return timedelta(days=28 * self.months) + self.exact

    @property
    def longest(self) -> timedelta:
        return timedelta(days=31 * self.months) + self.exact


def parse_interval(text: str) -> BillingInterval:
    """`P1M`, `P1Y`, `P2W`, `P7D`, `PT30S`, `P1M15D` ...; no fractions, no negative values."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise InvalidInterval(f"{text!r} is not an ISO 8601 duration such as P1M, P7D or PT30S")
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    interval = BillingInterval(
        months=12 * parts["years"] + parts["months"],
        exact=timedelta(
            weeks=parts["weeks"],
            days=parts["days"],
            hours=parts["hours"],
            minutes=parts["minutes"],
            seconds=parts["seconds"],
        ),
        text=text,
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


def period_start(anchor: datetime, interval: BillingInterval, cycle: int) -> datetime:
    """The start of period `cycle` (0 is the first), counted from the anchor."""
    return add_months(anchor, interval.months * cycle) + interval.exact * cycle


def first_cycle_not_before(anchor: datetime, interval: BillingInterval, moment: datetime) -> int:
    """The first cycle whose period starts at or after `moment`."""
    if moment <= anchor:
        return 0
    cycle = max(0, int((moment - anchor) / interval.longest) - 1)
    while period_start(anchor, interval, cycle) < moment:
        cycle += 1
    return cycle
