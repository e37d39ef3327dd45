"""expireHolds on Temporal: a hold past its expiry is released (booked held -> wallet, status
expired), a hold not yet due and a captured hold are left alone, and a second run finds nothing."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from temporalio.client import Client

from db.holds import HoldRequest, place_hold, settle_hold
from db.spend_pool import create_spend_pool
from db.spending import SpendContext
from tests.jobs.conftest import Maker, credit, run_job
from tokenbill.settings import Settings
from workflows.hold_expiry_types import EXPIRE_HOLDS_WORKFLOW


async def test_expire_holds_job_releases_only_the_holds_past_their_expiry(
    temporal_client: Client,
    jobs_queue: str,
    db_settings: Settings,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    org = await make_organization()
    await credit(session_maker, org, "100")
    context = SpendContext("system", "tests")
    pool = create_spend_pool(db_settings, size=1)
    await pool.open()
    try:
        async with pool.connection() as conn:
            now = datetime.now(UTC)

            async def reserve(amount: str, expires_at: datetime) -> int:
                wanted = HoldRequest(org, Decimal(amount), uuid.uuid4().hex, expires_at, "at:test")
                outcome = await place_hold(conn, wanted, context)
                assert outcome.status == "applied" and outcome.hold_id is not None
                return outcome.hold_id

            due = await reserve("10", now + timedelta(milliseconds=300))
            captured = await reserve("20", now + timedelta(milliseconds=300))
            later = await reserve("30", now + timedelta(hours=1))
            taken = await settle_hold(conn, org, captured, "captured", Decimal(5), context)
            assert taken.status == "applied"
    finally:
        await pool.close()
    await _sleep_until(now + timedelta(milliseconds=400))

    first = await run_job(
        temporal_client, jobs_queue, EXPIRE_HOLDS_WORKFLOW, history="expire-holds"
    )
    second = await run_job(temporal_client, jobs_queue, EXPIRE_HOLDS_WORKFLOW)

    assert first.counts.details["holds_expired"] >= 1
    assert second.status == "succeeded"
    async with session_maker() as session:
        rows: dict[int, str] = dict(
            (
                await session.execute(
                    text("SELECT id, status FROM token_holds WHERE organization_id = :o"),
                    {"o": org},
                )
            ).all()
        )
        wallet = (
            await session.execute(
                text(
                    "SELECT current_balance, held_balance FROM organization_token_wallets "
                    "WHERE organization_id = :o"
                ),
                {"o": org},
            )
        ).one()
    assert rows == {due: "expired", captured: "captured", later: "active"}
    assert (wallet.current_balance, wallet.held_balance) == (Decimal(65), Decimal(30))


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))
