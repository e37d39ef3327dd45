"""Heartbeating while an activity waits on something slow, so a dead worker is noticed fast."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from temporalio import activity

DEFAULT_INTERVAL = timedelta(seconds=2)


@asynccontextmanager
async def heartbeating(interval: timedelta = DEFAULT_INTERVAL) -> AsyncIterator[None]:
    """Heartbeat every interval until the block ends (outside an activity, do nothing)."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval.total_seconds())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
