"""Running a point read (db/point_reads.py) on the read pool: a connection checked out for the one
statement, and a database that cannot be reached answered as UNAVAILABLE."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg import AsyncConnection, OperationalError
from psycopg_pool import PoolTimeout

from db.spend_pool import SpendPool
from services.errors import unavailable

T = TypeVar("T")


async def on_read_pool(pool: SpendPool, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    try:
        async with pool.connection() as conn:
            return await work(conn)
    except (OperationalError, PoolTimeout) as exc:
        raise unavailable(
            "database_unavailable", "The database is unavailable; retry in a moment."
        ) from exc
