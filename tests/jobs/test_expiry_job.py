"""cleanupExpiredTokens: each expired lot loses exactly its unspent remainder, once."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from temporalio.client import Client

from db.expiry import expiry_key, expiry_notice_key
from tests.jobs.conftest import Maker, credit, run_job, spend
from workflows.operations_job_types import CLEANUP_EXPIRED_TOKENS_WORKFLOW


async def lot_remaining(session_maker: Maker, lot_id: int) -> Decimal:
    async with session_maker() as session:
        value = await session.scalar(
            text("SELECT remaining_amount FROM token_lots WHERE id = :id"), {"id": lot_id}
        )
    assert value is not None
    return Decimal(value)


async def balance(session_maker: Maker, wallet_id: int) -> Decimal:
    async with session_maker() as session:
        value = await session.scalar(
            text("SELECT current_balance FROM organization_token_wallets WHERE id = :id"),
            {"id": wallet_id},
        )
    return Decimal(value)


async def count(session_maker: Maker, sql: str, **params: object) -> int:
    async with session_maker() as session:
        return int(await session.scalar(text(sql), params) or 0)


async def test_expiry_takes_exactly_each_expired_lots_remainder_once(
    temporal_client: Client,
    jobs_queue: str,
    session_maker: Maker,
    make_organization: Callable[[], Awaitable[int]],
) -> None:
    org = await make_organization()
    now = datetime.now(UTC)
    wallet, older = await credit(session_maker, org, "100", expires_at=now - timedelta(days=2))
    _, newer = await credit(session_maker, org, "60", expires_at=now - timedelta(days=1))
    _, soon = await credit(session_maker, org, "200", expires_at=now + timedelta(days=3))
    _, later = await credit(session_maker, org, "40", expires_at=now + timedelta(days=30))
    _, forever = await credit(session_maker, org, "50")
    await spend(session_maker, wallet, "130")  # all of `older`, 30 of `newer`

    first = await run_job(
        temporal_client, jobs_queue, CLEANUP_EXPIRED_TOKENS_WORKFLOW,
        history="cleanup-expired-tokens",
    )  # fmt: skip

    assert await lot_remaining(session_maker, older) == 0
    assert await lot_remaining(session_maker, newer) == 0
    assert await lot_remaining(session_maker, soon) == 200
    assert await lot_remaining(session_maker, later) == 40
    assert await lot_remaining(session_maker, forever) == 50
    assert await balance(session_maker, wallet) == Decimal("290")
    async with session_maker() as session:
        expired = (
            await session.execute(
                text(
                    "SELECT t.kind, t.amount, a.code, e.amount AS entry FROM ledger_transactions t"
                    " JOIN ledger_entries e ON e.transaction_id = t.id"
                    " JOIN ledger_accounts a ON a.id = e.account_id"
                    " WHERE t.wallet_id = :w AND t.kind = 'expiry' ORDER BY e.amount"
                ),
                {"w": wallet},
            )
        ).all()
    assert [(r.kind, r.amount, r.code, r.entry) for r in expired] == [
        ("expiry", Decimal("30"), f"wallet:org-{org}", Decimal("-30")),
        ("expiry", Decimal("30"), "system:expiry", Decimal("30")),
    ]
    assert first.status == "succeeded"
    assert first.counts.details["lots_expired"] >= 1
    assert first.counts.seen >= 1

    second = await run_job(temporal_client, jobs_queue, CLEANUP_EXPIRED_TOKENS_WORKFLOW)

    assert await balance(session_maker, wallet) == Decimal("290")
    assert (
        await count(
            session_maker,
            "SELECT count(*) FROM ledger_transactions WHERE wallet_id = :w AND kind = 'expiry'",
            w=wallet,
        )
        == 1
    )
    assert second.status == "succeeded"
    assert (
        await count(
            session_maker,
            "SELECT count(*) FROM notification_events WHERE idempotency_key = ANY(:keys)",
            keys=[expiry_key(newer), expiry_notice_key(soon)],
        )
        == 2
    )
    assert (
        await count(
            session_maker,
            "SELECT count(*) FROM notification_events WHERE idempotency_key = ANY(:keys)",
            keys=[expiry_key(older), expiry_notice_key(later)],
        )
        == 0
    )


async def test_expiry_run_is_recorded_with_its_counts(
    temporal_client: Client, jobs_queue: str, session_maker: Maker
) -> None:
    result = await run_job(temporal_client, jobs_queue, CLEANUP_EXPIRED_TOKENS_WORKFLOW)

    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT job_name, status, seen, changed, failed, finished_at FROM job_runs"
                    " WHERE id = :id"
                ),
                {"id": result.job_run_id},
            )
        ).one()
    assert (row.job_name, row.status) == ("cleanupExpiredTokens", "succeeded")
    assert (row.seen, row.changed, row.failed) == (
        result.counts.seen,
        result.counts.changed,
        result.counts.failed,
    )
    assert row.finished_at is not None
