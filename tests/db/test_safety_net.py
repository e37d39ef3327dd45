"""The safety-net queries against a real database: a crossing without its notification is found
for that wallet only, and no longer once the notification is recorded; the feed shows both."""

import uuid
from decimal import Decimal

from db import ledger
from db.notification_feed import list_notifications
from db.notifications import record_event
from db.safety_net import missed_crossings, record_low_balance_notification
from tests.notification_helpers import funded_wallet
from tests.purchase_helpers import Maker


async def test_a_missed_crossing_is_found_once_and_then_recorded(
    session_maker: Maker, make_organization
):
    crossed_org = await make_organization()
    untouched_org = await make_organization()
    crossed = await funded_wallet(session_maker, crossed_org, "300")
    untouched = await funded_wallet(session_maker, untouched_org, "300")
    async with session_maker() as session, session.begin():
        await ledger.debit(
            session, wallet_id=crossed, amount=Decimal(250),
            idempotency_key=f"spend:{uuid.uuid4().hex}",
        )  # fmt: skip

    page = {"after": min(crossed, untouched) - 1, "last": max(crossed, untouched)}
    async with session_maker() as session:
        low = await missed_crossings(session, "low", Decimal(100), **page)
        critical = await missed_crossings(session, "critical", Decimal(10), **page)
    assert [(c.wallet_id, c.threshold, c.balance) for c in low] == [
        (crossed, Decimal(100), Decimal(50))
    ]
    assert critical == []

    async with session_maker() as session, session.begin():
        await record_low_balance_notification(session, low[0], "low")
        first = await record_event(
            session, idempotency_key=f"test:{uuid.uuid4().hex}", event_type="wallet.balance_low",
            payload={"balance": Decimal("50.0000")}, organization_id=crossed_org,
            wallet_id=crossed, severity="warning",
        )  # fmt: skip
    async with session_maker() as session:
        assert await missed_crossings(session, "low", Decimal(100), **page) == []
        records, total = await list_notifications(session, crossed_org)
        outbox, outbox_total = await list_notifications(session, crossed_org, source="outbox")
    assert first is not None
    assert total == 2
    assert {r.source for r in records} == {"low_balance", "outbox"}
    low_balance = next(r for r in records if r.source == "low_balance")
    assert (low_balance.event_type, low_balance.severity) == ("wallet.balance_low", "warning")
    assert low_balance.payload == {"level": "low", "threshold": "100", "balance": "50"}
    assert outbox_total == 1 and outbox[0].payload == {"balance": "50.0000"}
