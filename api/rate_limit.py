"""Rate limits per bucket, counted in PostgreSQL (db/rate_limits.py): 429 with Retry-After past
the limit."""

import math
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import ApiError
from db.rate_limits import count_in_window


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
    count stands whatever the request does next); 429 with Retry-After past the limit."""
    async with session_maker() as session, session.begin():
        counted = await count_in_window(session, bucket, window)
    if counted.hits > limit:
        retry_after = max(1, math.ceil(counted.seconds_left))
        seconds = window.total_seconds()
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests: at most {limit} per {seconds:g} seconds; "
            f"retry in {retry_after} s.",
            {"limit": limit, "window_seconds": seconds, "retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
