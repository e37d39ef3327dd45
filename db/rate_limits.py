"""Fixed-window request counters in PostgreSQL, shared by every API instance."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Float, delete, extract, func, literal
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RateLimitCounter


@dataclass(frozen=True)
class WindowCount:
    hits: int
    """Requests counted in the current window, this one included."""
    seconds_left: float
    """How long the current window has left."""


async def count_in_window(session: AsyncSession, bucket: str, window: timedelta) -> WindowCount:
    """Count one request in the bucket's current window, found on the database clock (the same
    for every instance), and forget the bucket's past windows."""
    seconds = literal(window.total_seconds(), Float)
    now = func.clock_timestamp()
    window_start = func.to_timestamp(func.floor(extract("epoch", now) / seconds) * seconds)
    counted = (
        await session.execute(
            insert(RateLimitCounter)
            .values(bucket=bucket, window_start=window_start, count=1)
            .on_conflict_do_update(
                index_elements=[RateLimitCounter.bucket, RateLimitCounter.window_start],
                set_={"count": RateLimitCounter.count + 1},
            )
            .returning(
                RateLimitCounter.count,
                RateLimitCounter.window_start,
                extract("epoch", RateLimitCounter.window_start - now) + seconds,
            )
        )
    ).one()
    hits, start, seconds_left = counted
    await session.execute(
        delete(RateLimitCounter).where(
            RateLimitCounter.bucket == bucket, RateLimitCounter.window_start < start
        )
    )
    return WindowCount(hits=hits, seconds_left=float(seconds_left))
