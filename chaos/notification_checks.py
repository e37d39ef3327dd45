"""No notification lost: every threshold crossing has its low-balance notification and its outbox
event, and every outbox event and webhook delivery reached its end. A crossing is a spend's or a
hold's (both lower the available balance and alert in their own transaction, 0024)."""

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.verdict import Verdict

CROSSINGS_SQL = """
SELECT h.wallet_id, h.transaction_id, x.level, e.id AS event_id, n.id AS notification_id
  FROM token_balance_history h
  JOIN organization_token_wallets w ON w.id = h.wallet_id
 CROSS JOIN LATERAL (VALUES ('low', coalesce(w.low_balance_threshold, :low)),
                            ('critical', coalesce(w.critical_balance_threshold, :critical)))
       AS x(level, threshold)
  LEFT JOIN notification_events e
         ON e.idempotency_key = 'balance_' || x.level || ':' || h.wallet_id || ':'
                                || h.transaction_id
  LEFT JOIN low_balance_notifications n
         ON n.id = (e.payload ->> 'notification_id')::bigint
        AND n.wallet_id = h.wallet_id AND n.level = x.level
 WHERE h.change_type IN ('consumption', 'hold')
   AND h.balance_before >= x.threshold AND x.threshold > h.balance_after
"""
TOPUP_CROSSINGS_SQL = """
SELECT h.wallet_id, h.transaction_id, e.id AS event_id
  FROM token_balance_history h
  JOIN auto_topup_policies p ON p.wallet_id = h.wallet_id AND p.threshold IS NOT NULL
  LEFT JOIN notification_events e
         ON e.idempotency_key = 'auto_topup_threshold:' || h.wallet_id || ':' || h.transaction_id
 WHERE h.change_type IN ('consumption', 'hold')
   AND h.balance_before >= p.threshold AND p.threshold > h.balance_after
"""
UNPLANNED_SQL = """
SELECT e.id, w.id AS endpoint FROM notification_events e
  JOIN webhook_endpoints w ON w.organization_id = e.organization_id AND w.is_active
   AND cardinality(w.event_types) = 0 AND w.created_at <= e.created_at
 WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                    WHERE d.endpoint_id = w.id AND d.event_id = e.id)
"""
DELIVERIES_SQL = """
SELECT d.id, d.status, d.attempts, count(a.id) AS logged,
       count(a.id) FILTER (WHERE a.status_code BETWEEN 200 AND 299) AS answered
  FROM webhook_deliveries d LEFT JOIN webhook_delivery_attempts a ON a.delivery_id = d.id
 GROUP BY d.id, d.status, d.attempts
"""


async def crossings_recorded(session: AsyncSession, low: Decimal, critical: Decimal) -> Verdict:
    verdict = Verdict("every threshold crossing has its notification and its outbox event")
    crossings = list(await session.execute(text(CROSSINGS_SQL), {"low": low, "critical": critical}))
    for c in crossings:
        if c.event_id is None or c.notification_id is None:
            verdict.violations.append(
                f"{c.level} crossing of wallet {c.wallet_id} by transaction {c.transaction_id}: "
                f"outbox event {c.event_id}, notification {c.notification_id}"
            )
    recorded = await session.scalar(text("SELECT count(*) FROM low_balance_notifications"))
    if int(recorded or 0) != len(crossings):
        verdict.violations.append(f"{recorded} notifications for {len(crossings)} crossings")
    topups = list(await session.execute(text(TOPUP_CROSSINGS_SQL)))
    for c in topups:
        if c.event_id is None:
            verdict.violations.append(
                f"auto top-up threshold crossed in wallet {c.wallet_id} by transaction "
                f"{c.transaction_id} without its outbox event"
            )
    verdict.looked_at = (
        f"{len(crossings)} low/critical crossings, {len(topups)} auto top-up threshold crossings"
    )
    return verdict


async def notifications_delivered(session: AsyncSession) -> Verdict:
    verdict = Verdict("every outbox event delivered, every webhook delivery ended with its log")
    events = dict(
        (r[0], r[1])
        for r in await session.execute(
            text("SELECT status, count(*) FROM notification_events GROUP BY status")
        )
    )
    for status in set(events) - {"delivered", "failed"}:
        verdict.violations.append(f"{events[status]} outbox events still {status}")
    undelivered = await session.scalar(
        text("SELECT count(*) FROM low_balance_notifications WHERE status <> 'delivered'")
    )
    if undelivered:
        verdict.violations.append(f"{undelivered} low-balance notifications not delivered")
    for row in await session.execute(text(UNPLANNED_SQL)):
        verdict.violations.append(f"event {row.id} never reached webhook endpoint {row.endpoint}")
    outcome = {"succeeded": 0, "failed": 0}
    for d in await session.execute(text(DELIVERIES_SQL)):
        if d.status == "pending":
            verdict.violations.append(f"webhook delivery {d.id} still pending")
            continue
        outcome[d.status] += 1
        if d.logged == 0 or d.logged != d.attempts:
            verdict.violations.append(
                f"webhook delivery {d.id} ({d.status}): {d.attempts} attempts, {d.logged} logged"
            )
        if d.status == "succeeded" and d.answered == 0:
            verdict.violations.append(f"webhook delivery {d.id} succeeded without a 2xx logged")
    verdict.looked_at = (
        f"{sum(events.values())} outbox events {events}; webhook deliveries {outcome}"
    )
    return verdict
