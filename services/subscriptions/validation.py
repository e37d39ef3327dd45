"""What a new subscription must satisfy before its row is written: its interval, grace period and
start, an active package and an active organization."""

from datetime import UTC, datetime, timedelta

from domain.durations import InvalidInterval, parse_interval
from services.errors import (
    ServiceError,
    invalid,
)
from tokenbill.settings import Settings

START_AT_TOLERANCE = timedelta(minutes=5)  # clocks differ; a start this little in the past is now


def checked_interval(text_value: str, minimum: timedelta) -> str:
    try:
        interval = parse_interval(text_value)
    except InvalidInterval as exc:
        raise invalid_field("body.billing_interval", str(exc)) from exc
    if interval.shortest < minimum:
        raise invalid(
            "billing_interval_too_short",
            f"The billing interval {text_value} is shorter than the minimum of "
            f"{iso_duration(minimum)} this system bills by.",
            {"billing_interval": text_value, "minimum": iso_duration(minimum)},
        )
    return text_value


def checked_grace(text_value: str | None, settings: Settings) -> tuple[str, timedelta]:
    if text_value is None:
        days = settings.token_subscription_grace_period_days
        return f"P{days}D", timedelta(days=days)
    try:
        grace = parse_interval(text_value)
    except InvalidInterval as exc:
        raise invalid_field("body.grace_period", str(exc)) from exc
    if grace.months:
        raise invalid_field(
            "body.grace_period", "use days or time (P7D, PT30S), not months or years"
        )
    return text_value, grace.exact


def checked_start(start_at: datetime | None) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    if start_at is None:
        return now
    if start_at < now - START_AT_TOLERANCE:
        raise invalid_field("body.start_at", "must not be in the past")
    return max(start_at.astimezone(UTC), now)


def invalid_field(field: str, message: str) -> ServiceError:
    """A value of the request that does not fit, named the way the API's validation names it."""
    return invalid(
        "validation_error",
        f"{field}: {message}",
        {"errors": [{"field": field, "message": message, "type": "value_error"}]},
    )


def iso_duration(duration: timedelta) -> str:
    """timedelta as ISO 8601 (P1D, PT10S, P1DT2H)."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if seconds else "PT0S"
