"""Reconciliation sees holds: a wallet with active, captured and released holds reconciles
clean (held tokens = the held account's entries = the active holds; lots = balance + held), and
a held figure that drifts from its books is reported."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from db.holds import HoldRequest, place_hold, settle_hold
from db.reconciliation import check_wallets, use_one_snapshot
from db.spend_pool import create_spend_pool
from db.spending import SpendContext
from tests.jobs.conftest import Maker, credit
from tokenbill.settings import Settings


async def test_holds_reconcile_clean_and_a_drifted_held_figure_is_reported(
    db_settings: Settings,
    session_maker: Maker,
    owner_session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    org = await make_organization()
    wallet, _ = await credit(session_maker, org, "100")
    context = SpendContext("system", "tests")
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    pool = create_spend_pool(db_settings, size=1)
    await pool.open()
    try:
        async with pool.connection() as conn:
            held = []
            for amount in ("10", "20", "30"):
                wanted = HoldRequest(org, Decimal(amount), uuid.uuid4().hex, expires_at, "at:t")
                outcome = await place_hold(conn, wanted, context)
                assert outcome.hold_id is not None
                held.append(outcome.hold_id)
            await settle_hold(conn, org, held[0], "captured", Decimal(4), context)
            await settle_hold(conn, org, held[1], "released", None, context)
    finally:
        await pool.close()

    async with session_maker() as session, session.begin():
        await use_one_snapshot(session)
        clean = await check_wallets(session, [wallet])
    async with owner_session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE organization_token_wallets SET held_balance = held_balance + 1 "
                "WHERE id = :w"
            ),
            {"w": wallet},
        )
    async with session_maker() as session, session.begin():
        await use_one_snapshot(session)
        drifted = await check_wallets(session, [wallet])

    assert clean.mismatches == []
    found = {(m.kind, m.expected, m.actual) for m in drifted.mismatches}
    assert found == {
        ("held_vs_entries", Decimal(30), Decimal(31)),
        ("held_vs_holds", Decimal(30), Decimal(31)),
        ("balance_vs_lots", Decimal(96), Decimal(97)),
    }
