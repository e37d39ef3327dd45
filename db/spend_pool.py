"""The spend path's own connection pool: plain psycopg connections in autocommit mode, so one
`ledger_spend` statement is one transaction and one round trip."""

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from db.session import app_role_connect_args
from tokenbill.settings import Settings, to_libpq_url

SpendPool = AsyncConnectionPool[AsyncConnection[tuple[object, ...]]]


IDLE_CONNECTIONS = 2
"""Connections a pool keeps open while idle; it grows to its size under load."""


def create_spend_pool(
    settings: Settings, *, size: int | None = None, name: str = "spend"
) -> SpendPool:
    """A pool not yet opened (open it with `await pool.open()`); connections are made lazily
    in the background, so the API starts while the database is down. The point reads (GET
    wallet, GET purchase) have a pool of the same kind, named `read`."""
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set (tokenbill dev starts a local database)")
    size = size or settings.spend_pool_size
    return AsyncConnectionPool(
        to_libpq_url(settings.database_url),
        # Up to `size` connections, opened as the load asks for them: each API process of a
        # test run or a scaled-out deployment does not hold its whole pool while idle.
        min_size=min(IDLE_CONNECTIONS, size),
        max_size=size,
        kwargs={"autocommit": True, **app_role_connect_args(settings)},
        open=False,
        timeout=10.0,
        name=name,
    )
