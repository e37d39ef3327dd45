"""Business keys and references do not depend on the database's time zone (issue 9, edge 5).

The application role (and the login role, whose settings are the ones a session starts with)
is set to America/New_York for these tests: every connection the application makes still runs
in UTC, and a key built from a datetime read back from the database is the UTC key.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from activities.subscription_repair import SubscriptionRepairActivities
from db.session import APP_ROLE, create_engine, create_owner_engine, create_session_maker
from db.spend_pool import create_spend_pool
from domain.durations import parse_interval, period_start
from tests.subscription_helpers import create_package, insert_subscription
from tokenbill.settings import Settings
from workflows.job_types import WalletBatch
from workflows.subscription_activity_types import (
    charge_key,
    credit_key,
    invoice_key,
    period_key,
    purchase_reference,
)

NEW_YORK = "America/New_York"
# The last day of January at midnight UTC is still the 30th in New York, and a month later the
# clamped day differs (28 February in UTC, 28 February 19:00 in New York = 1 March in UTC).
ANCHOR = datetime(2026, 1, 31, tzinfo=UTC)


async def _set_time_zones(connection: AsyncConnection, zone: str | None) -> None:
    # A session starts with the settings of the role it logs in as; the application role is
    # only SET (it cannot log in), so both carry the zone here.
    for role in (APP_ROLE, "CURRENT_USER"):
        setting = f"SET timezone = '{zone}'" if zone else "RESET timezone"
        await connection.execute(text(f"ALTER ROLE {role} {setting}"))


@asynccontextmanager
async def new_york_roles(db_settings: Settings) -> AsyncIterator[None]:
    """The roles' time zone is New York until the block ends (connections made inside see it)."""
    owner = create_owner_engine(db_settings)
    try:
        async with owner.begin() as connection:
            await _set_time_zones(connection, NEW_YORK)
        yield
    finally:
        async with owner.begin() as connection:
            await _set_time_zones(connection, None)
        await owner.dispose()


@asynccontextmanager
async def fresh_engine(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_settings, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_key_built_from_a_datetime_read_back_equals_the_utc_key(
    db_settings: Settings,
) -> None:
    async with new_york_roles(db_settings), fresh_engine(db_settings) as engine:
        async with engine.connect() as connection:
            read_back = await connection.scalar(
                text("SELECT CAST(:moment AS timestamptz)"), {"moment": ANCHOR}
            )
    assert read_back == ANCHOR
    assert period_key(5, read_back) == "subscription:5:2026-01-31T00:00:00+00:00"
    assert charge_key(5, read_back, 1) == "subscription:5:2026-01-31T00:00:00+00:00:charge"
    assert charge_key(5, read_back, 2) == "subscription:5:2026-01-31T00:00:00+00:00:charge:2"
    assert credit_key(5, read_back) == "subscription:5:2026-01-31T00:00:00+00:00:credit"
    assert invoice_key(5, read_back) == "subscription:5:2026-01-31T00:00:00+00:00:invoice"
    assert purchase_reference(5, read_back) == "SUB-5-20260131T000000Z"


def test_keys_of_the_same_instant_in_any_zone_are_the_utc_keys() -> None:
    new_york = ANCHOR.astimezone(timezone(timedelta(hours=-5)))
    assert charge_key(5, new_york, 1) == charge_key(5, ANCHOR, 1)
    assert purchase_reference(5, new_york) == purchase_reference(5, ANCHOR)


async def test_every_application_connection_runs_in_utc_whatever_the_role_says(
    db_settings: Settings,
) -> None:
    async with new_york_roles(db_settings):
        async with fresh_engine(db_settings) as engine, engine.connect() as connection:
            app_zone = await connection.scalar(text("SHOW timezone"))
        owner = create_owner_engine(db_settings)
        try:
            async with owner.connect() as connection:
                owner_zone = await connection.scalar(text("SHOW timezone"))
        finally:
            await owner.dispose()
        pool = create_spend_pool(db_settings, size=1)
        await pool.open(wait=True)
        try:
            async with pool.connection() as connection:
                cursor = await connection.execute("SHOW timezone")
                spend_zone = (await cursor.fetchone() or (None,))[0]
        finally:
            await pool.close()
    assert (app_zone, owner_zone, spend_zone) == ("UTC", "UTC", "UTC")


async def test_the_repair_job_rebuilds_a_run_that_bills_the_utc_periods(
    db_settings: Settings, session_maker, make_organization
) -> None:
    terms = await create_package(session_maker)
    run = await insert_subscription(session_maker, await make_organization(), terms, anchor=ANCHOR)
    async with new_york_roles(db_settings), fresh_engine(db_settings) as engine:
        repair = SubscriptionRepairActivities(create_session_maker(engine), db_settings)
        batch = await repair.list_to_repair(
            WalletBatch(job_run_id=0, after_wallet_id=run.subscription_id - 1)
        )
    rebuilt = next(c.run for c in batch.candidates if c.run.subscription_id == run.subscription_id)
    second = period_start(rebuilt.anchor, parse_interval(rebuilt.billing_interval), 1)
    assert second == datetime(2026, 2, 28, tzinfo=UTC)
    assert charge_key(run.subscription_id, second, 1) == (
        f"subscription:{run.subscription_id}:2026-02-28T00:00:00+00:00:charge"
    )
