"""Fixed-window rate limits whose counters live in PostgreSQL, shared by every API instance."""

import math
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import ApiError

# One statement: find the current window on the database clock (the same for every instance),
# count this request in it, and say how long the window has left.
_COUNT_REQUEST = text(
    "WITH win AS (SELECT to_timestamp(floor(extract(epoch FROM clock_timestamp()) / :secs) "
    "* :secs) AS start) "
    "INSERT INTO rate_limit_counters AS c (bucket, window_start, count) "
    "SELECT :bucket, start, 1 FROM win "
    "ON CONFLICT (bucket, window_start) DO UPDATE SET count = c.count + 1 "
    "RETURNING c.count AS hits, c.window_start, "
    "extract(epoch FROM c.window_start + make_interval(secs => :secs) - clock_timestamp()) "
    "AS seconds_left"
)
_FORGET_PAST_WINDOWS = text(
    "DELETE FROM rate_limit_counters WHERE bucket = :bucket AND window_start < :start"
)


def purchase_bucket(organization_id: int) -> str:
    return f"purchases:organization:{organization_id}"


async def count_request(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    bucket: str,
    limit: int,
    window: timedelta,
) -> None:
    """Count one request in the bucket's current window; 429 with Retry-After past the limit."""
    seconds = window.total_seconds()
    async with session_maker() as session, session.begin():
        row = (await session.execute(_COUNT_REQUEST, {"bucket": bucket, "secs": seconds})).one()
        await session.execute(_FORGET_PAST_WINDOWS, {"bucket": bucket, "start": row.window_start})
    if row.hits > limit:
        retry_after = max(1, math.ceil(float(row.seconds_left)))
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests: at most {limit} per {_describe(window)}; "
            f"retry in {retry_after} s.",
            {"limit": limit, "window_seconds": seconds, "retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def _describe(window: timedelta) -> str:
    seconds = window.total_seconds()
    return f"{seconds:g} seconds"
