"""Normalising a subscription's billing interval (ISO 8601 duration) to months, exactly."""

import re
from decimal import Decimal

# The mean Gregorian month: 365.2425 days / 12.
DAYS_PER_MONTH = Decimal("30.436875")
SECONDS_PER_DAY = Decimal(86400)

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class InvalidInterval(ValueError):
    """Not an ISO 8601 duration of whole units, or zero long."""


def interval_in_months(interval: str) -> Decimal:
    """`P1M` -> 1, `P1Y` -> 12, `P7D` -> 7 / 30.436875; days and shorter use the mean month."""
    match = _DURATION.match(interval.strip().upper())
    if match is None or interval.strip().upper() in ("P", "PT"):
        raise InvalidInterval(f"{interval!r} is not an ISO 8601 duration")
    part = {name: Decimal(value or 0) for name, value in match.groupdict().items()}
    seconds = part["hours"] * 3600 + part["minutes"] * 60 + part["seconds"]
    days = part["weeks"] * 7 + part["days"] + seconds / SECONDS_PER_DAY
    months = part["years"] * 12 + part["months"] + days / DAYS_PER_MONTH
    if months <= 0:
        raise InvalidInterval(f"{interval!r} is zero long")
    return months
