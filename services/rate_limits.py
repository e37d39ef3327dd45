"""Rate limits per bucket, counted in PostgreSQL (db/rate_limits.py): refused (RATE_LIMITED, with
the seconds to wait) past the limit."""

import math
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.rate_limits import count_in_window
from services.errors import ErrorKind, ServiceError


def purchase_bucket(organization_id: int) -> str:
    return f"purchases:organization:{organization_id}"


async def count_request(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    bucket: str,
    limit: int,
    window: timedelta,
) -> None:
    """Count one request in the bucket's current window (in a transaction of its own, so the
    count stands whatever the request does next); RATE_LIMITED past the limit."""
    async with session_maker() as session, session.begin():
        counted = await count_in_window(session, bucket, window)
    if counted.hits > limit:
        retry_after = max(1, math.ceil(counted.seconds_left))
        seconds = window.total_seconds()
        raise ServiceError(
            ErrorKind.RATE_LIMITED,
            "rate_limited",
            f"Too many requests: at most {limit} per {seconds:g} seconds; "
            f"retry in {retry_after} s.",
            {"limit": limit, "window_seconds": seconds, "retry_after_seconds": retry_after},
            retry_after_seconds=retry_after,
        )
