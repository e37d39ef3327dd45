"""A point read whose database cannot be reached is UNAVAILABLE `database_unavailable`."""

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.errors import ErrorKind, ServiceError
from services.read_pool import on_read_pool
from tokenbill.devstack.ports import free_port


async def test_a_read_on_a_pool_that_cannot_connect_is_unavailable() -> None:
    pool: AsyncConnectionPool[AsyncConnection[tuple[object, ...]]] = AsyncConnectionPool(
        f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
        min_size=1, max_size=1, timeout=0.5, open=False, reconnect_timeout=1.0,
    )  # fmt: skip
    await pool.open(wait=False)
    try:

        async def read(conn: AsyncConnection[tuple[object, ...]]) -> int:
            raise AssertionError("no connection can be had")

        with pytest.raises(ServiceError) as refused:
            await on_read_pool(pool, read)
    finally:
        await pool.close()
    assert refused.value.kind == ErrorKind.UNAVAILABLE
    assert refused.value.code == "database_unavailable"
