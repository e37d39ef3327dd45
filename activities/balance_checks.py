"""The safety-net jobs' activities: missing low-balance notifications, waking the relay, and
signalling the top-up workflows of wallets left under their threshold."""

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from db.notifications import Severity, record_event
from tokenbill.settings import Settings
from workflows.auto_topup_start import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger
from workflows.balance_check_types import (
    SWEEP_LOW_BALANCES,
    TRIGGER_DUE_TOPUPS,
    WAKE_OUTBOX_RELAY,
    DueTopups,
    DueTopupsInput,
    LowBalanceSweep,
    WakeRelayInput,
)
from workflows.outbox_relay_start import wake_outbox_relay
from workflows.outbox_types import BALANCE_CRITICAL, BALANCE_LOW

logger = logging.getLogger("tokenbill.jobs")
LEVELS: tuple[tuple[str, str, Severity], ...] = (
    ("low", BALANCE_LOW, "warning"),
    ("critical", BALANCE_CRITICAL, "critical"),
)

# A wallet under a threshold whose latest downward crossing of it (a balance change from at or
# above to below) has no notification recorded since. The crossing's transaction names the event,
# with the key the spend transaction would have used, so a late sweep never duplicates it.
MISSING_NOTIFICATIONS_SQL = """
SELECT w.id AS wallet_id, w.organization_id, w.current_balance AS balance, x.threshold,
       c.transaction_id, c.created_at AS crossed_at
  FROM organization_token_wallets w
  CROSS JOIN LATERAL (SELECT coalesce({column}, :default) AS threshold) x
  CROSS JOIN LATERAL (
    SELECT h.transaction_id, h.created_at FROM token_balance_history h
     WHERE h.wallet_id = w.id AND h.balance_before >= x.threshold
       AND h.balance_after < x.threshold
     ORDER BY h.created_at DESC, h.id DESC LIMIT 1) c
 WHERE w.is_active AND w.current_balance < x.threshold
   AND NOT EXISTS (SELECT 1 FROM low_balance_notifications n
                    WHERE n.wallet_id = w.id AND n.level = :level
                      AND n.created_at >= c.created_at)
 LIMIT 1000
"""
WAITING_EVENTS_SQL = """
SELECT count(*) FROM notification_events
 WHERE status = 'pending' OR (status = 'dispatched' AND dispatched_at < now() - :stale)
"""
DUE_TOPUPS_SQL = """
SELECT w.id AS wallet_id, w.organization_id FROM auto_topup_policies p
  JOIN organization_token_wallets w ON w.id = p.wallet_id
 WHERE p.enabled AND p.status = 'active' AND p.threshold IS NOT NULL
   AND w.current_balance < p.threshold
   AND NOT EXISTS (SELECT 1 FROM token_purchases t
                    WHERE t.wallet_id = w.id AND t.purchase_type = 'auto_topup'
                      AND t.status IN ('pending', 'processing'))
 ORDER BY w.id
"""


class BalanceCheckActivities:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: Client,
    ) -> None:
        self._session_maker = session_maker
        self._settings = settings
        self._client = client

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.sweep_low_balances, self.wake_relay, self.trigger_due_topups]

    @activity.defn(name=SWEEP_LOW_BALANCES)
    async def sweep_low_balances(self) -> LowBalanceSweep:
        recorded = 0
        defaults = {
            "low": self._settings.token_low_balance_threshold,
            "critical": self._settings.token_critical_balance_threshold,
        }
        async with self._session_maker() as session, session.begin():
            for level, event_type, severity in LEVELS:
                column = f"w.{level}_balance_threshold"
                rows = await session.execute(
                    text(MISSING_NOTIFICATIONS_SQL.format(column=column)),
                    {"default": defaults[level], "level": level},
                )
                for row in rows.all():
                    notification_id = await session.scalar(
                        text(
                            "INSERT INTO low_balance_notifications (wallet_id, organization_id, "
                            "level, threshold, balance) VALUES (:w, :o, :level, :t, :b) "
                            "RETURNING id"
                        ),
                        {"w": row.wallet_id, "o": row.organization_id, "level": level,
                         "t": row.threshold, "b": row.balance},
                    )  # fmt: skip
                    await record_event(
                        session,
                        idempotency_key=f"balance_{level}:{row.wallet_id}:{row.transaction_id}",
                        event_type=event_type,
                        payload={
                            "wallet_id": row.wallet_id, "organization_id": row.organization_id,
                            "level": level, "threshold": row.threshold, "balance": row.balance,
                            "transaction_id": row.transaction_id,
                            "notification_id": notification_id, "recorded_by": "safety_net",
                        },
                        organization_id=row.organization_id,
                        wallet_id=row.wallet_id,
                        severity=severity,
                    )  # fmt: skip
                    recorded += 1
            waiting = await session.scalar(
                text(WAITING_EVENTS_SQL), {"stale": self._settings.outbox_stale_after}
            )
        if recorded:
            logger.warning("safety net recorded %d missing low-balance notifications", recorded)
        return LowBalanceSweep(notifications_recorded=recorded, events_waiting=int(waiting or 0))

    @activity.defn(name=WAKE_OUTBOX_RELAY)
    async def wake_relay(self, request: WakeRelayInput) -> None:
        await wake_outbox_relay(
            self._client,
            task_queue=activity.info().task_queue,
            workflow_id=request.relay_workflow_id,
        )

    @activity.defn(name=TRIGGER_DUE_TOPUPS)
    async def trigger_due_topups(self, request: DueTopupsInput) -> DueTopups:
        if not self._settings.token_auto_topup_enabled:
            return DueTopups(wallets_signalled=0)
        async with self._session_maker() as session:
            due = (await session.execute(text(DUE_TOPUPS_SQL))).all()
        for row in due:
            await signal_auto_topup(
                self._client,
                task_queue=activity.info().task_queue,
                wallet_id=row.wallet_id,
                organization_id=row.organization_id,
                trigger=TopupTrigger(kind="check", key=request.trigger_key),
            )
        return DueTopups(wallets_signalled=len(due))
