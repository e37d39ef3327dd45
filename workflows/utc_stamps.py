"""Instants as they appear in business keys and references: always in UTC.

A datetime read back from the database carries the session's time zone, and one rebuilt from a
payload carries whatever offset it was written with; the same instant must give the same key
either way, or a rebuilt run would charge a period again under a new key.
"""

from datetime import UTC, datetime


def in_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused, since its instant is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone, so it names no instant")
    return moment.astimezone(UTC)


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC: `2026-01-31T00:00:00+00:00`."""
    return in_utc(moment).isoformat()


def utc_compact(moment: datetime) -> str:
    """Compact UTC, for references: `20260131T000000Z`."""
    return in_utc(moment).strftime("%Y%m%dT%H%M%SZ")
