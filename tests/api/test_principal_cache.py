"""The principal cache: a user is remembered for its time to live, never past a write of the
users table made in this process, and concurrent misses of one key share one read."""

import asyncio

import pytest

from api.auth.principal_cache import (
    PrincipalCache,
    by_claim,
    by_id,
    forget_every_principal,
    writes_users,
)
from db.directory import UserRecord

VIEWER = UserRecord(7, "v@example.test", None, "user", None, 3, ("tokens.view",), True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_user_is_remembered_until_its_time_to_live_ends() -> None:
    clock = Clock()
    cache = PrincipalCache(2.0, clock)
    cache.remember(by_id(7), VIEWER, cache.generation())
    clock.now += 1.9
    assert cache.get(by_id(7)) == VIEWER
    clock.now += 0.2
    assert cache.get(by_id(7)) is None
    cache.close()


def test_a_zero_time_to_live_and_an_inactive_user_are_never_remembered() -> None:
    off = PrincipalCache(0.0)
    off.remember(by_id(7), VIEWER, off.generation())
    assert off.get(by_id(7)) is None
    cache = PrincipalCache(5.0)
    inactive = UserRecord(8, "i@example.test", None, "user", None, 3, (), False)
    cache.remember(by_id(8), inactive, cache.generation())
    assert cache.get(by_id(8)) is None
    off.close()
    cache.close()


def test_a_write_of_users_forgets_every_user_and_a_read_begun_before_it() -> None:
    cache = PrincipalCache(60.0)
    cache.remember(by_claim("email", VIEWER.email), VIEWER, cache.generation())
    begun = cache.generation()
    forget_every_principal()
    assert cache.get(by_claim("email", VIEWER.email)) is None
    cache.remember(by_id(7), VIEWER, begun)  # read before the write: stale, not remembered
    assert cache.get(by_id(7)) is None
    cache.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users SET is_active=%(a)s WHERE users.id = %(b)s",
        "update \"users\" set permissions = '{}'",
        "DELETE FROM users WHERE id = 1",
        "INSERT INTO users (email) VALUES ('x')",
        "  TRUNCATE TABLE public.users",
    ],
)
def test_statements_that_write_users_are_recognised(statement: str) -> None:
    assert writes_users(statement)


@pytest.mark.parametrize(
    "statement",
    ["SELECT users.id FROM users", "UPDATE users_archive SET x = 1", "INSERT INTO api_keys"],
)
def test_statements_that_do_not_write_users_are_not(statement: str) -> None:
    assert not writes_users(statement)


async def test_concurrent_misses_of_one_user_share_one_read() -> None:
    cache = PrincipalCache(60.0)
    reads = 0
    gate = asyncio.Event()

    async def read() -> UserRecord:
        nonlocal reads
        reads += 1
        await gate.wait()
        return VIEWER

    waiting = [asyncio.ensure_future(cache.resolve(by_id(7), read)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [VIEWER] * 5
    assert reads == 1
    cache.close()


async def test_a_miss_after_a_write_does_not_share_a_read_begun_before_it() -> None:
    cache = PrincipalCache(60.0)
    reads = 0
    gate = asyncio.Event()

    async def read() -> UserRecord:
        nonlocal reads
        reads += 1
        await gate.wait()
        return VIEWER

    first = asyncio.ensure_future(cache.resolve(by_id(7), read))
    await asyncio.sleep(0)
    forget_every_principal()
    second = asyncio.ensure_future(cache.resolve(by_id(7), read))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert reads == 2
    assert cache.get(by_id(7)) == VIEWER  # the second read, begun after the write, is kept
    cache.close()
