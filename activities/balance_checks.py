"""The safety-net jobs' activities: a page of wallets' missing low-balance notifications, waking
the relay, and signalling the top-up workflows of a page's wallets left under their threshold."""

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from activities.wallet_batches import WalletOutcome, handle_wallets, load_page
from db.notifications import Severity, record_event
from db.wallet_pages import WalletRow
from tokenbill.settings import Settings
from workflows.auto_topup_start import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger
from workflows.balance_check_types import (
    CHECK_AUTO_TOPUP_TRIGGERS_JOB,
    CHECK_LOW_BALANCE_THRESHOLDS_JOB,
    SWEEP_LOW_BALANCES,
    TRIGGER_DUE_AUTO_TOPUPS,
    WAKE_OUTBOX_RELAY,
    RelayWake,
    WakeRelayInput,
)
from workflows.job_types import BatchOutcome, JobCounts, WalletBatch
from workflows.outbox_relay_start import wake_outbox_relay
from workflows.outbox_types import BALANCE_CRITICAL, BALANCE_LOW

logger = logging.getLogger("tokenbill.jobs")
LEVELS: tuple[tuple[str, str, Severity], ...] = (
    ("low", BALANCE_LOW, "warning"),
    ("critical", BALANCE_CRITICAL, "critical"),
)

# A wallet of the page under a threshold whose latest downward crossing of it (a balance change
# from at or above to below) has no notification recorded since. The crossing's transaction names
# the event, with the key the spend transaction would have used, so a late sweep never duplicates
# it.
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
 WHERE w.id > :after AND w.id <= :last AND w.is_active AND w.current_balance < x.threshold
   AND NOT EXISTS (SELECT 1 FROM low_balance_notifications n
                    WHERE n.wallet_id = w.id AND n.level = :level
                      AND n.created_at >= c.created_at)
"""
WAITING_EVENTS_SQL = """
SELECT count(*) FROM notification_events
 WHERE status = 'pending' OR (status = 'dispatched' AND dispatched_at < now() - :stale)
"""
DUE_TOPUPS_SQL = """
SELECT w.id AS wallet_id, w.organization_id FROM auto_topup_policies p
  JOIN organization_token_wallets w ON w.id = p.wallet_id
 WHERE w.id > :after AND w.id <= :last
   AND p.enabled AND p.status = 'active' AND p.threshold IS NOT NULL
   AND w.current_balance < p.threshold
   AND NOT EXISTS (SELECT 1 FROM token_purchases t
                    WHERE t.wallet_id = w.id AND t.purchase_type = 'auto_topup'
                      AND t.status IN ('pending', 'processing'))
"""


class MissingAlert(NamedTuple):
    level: str
    event_type: str
    severity: Severity
    row: Any


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
    async def sweep_low_balances(self, batch: WalletBatch) -> BatchOutcome:
        """Record the notifications a page's wallets are missing, each wallet in a transaction
        of its own."""
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        if not page:
            return BatchOutcome(counts=JobCounts(), last_wallet_id=None)
        missing = await self._missing_alerts(batch.after_wallet_id, page[-1].id)

        async def record(wallet: WalletRow) -> WalletOutcome:
            alerts = missing.get(wallet.id, [])
            if alerts:
                await self._record_alerts(alerts)
                logger.warning("safety net recorded %d missing low-balance notifications "
                               "for wallet %s", len(alerts), wallet.id)  # fmt: skip
            return WalletOutcome(changed=bool(alerts), details={"alerts_recorded": len(alerts)})

        return await handle_wallets(page, CHECK_LOW_BALANCE_THRESHOLDS_JOB, record)

    async def _missing_alerts(self, after: int, last: int) -> dict[int, list[MissingAlert]]:
        defaults = {
            "low": self._settings.token_low_balance_threshold,
            "critical": self._settings.token_critical_balance_threshold,
        }
        missing: dict[int, list[MissingAlert]] = {}
        async with self._session_maker() as session:
            for level, event_type, severity in LEVELS:
                column = f"w.{level}_balance_threshold"
                rows = await session.execute(
                    text(MISSING_NOTIFICATIONS_SQL.format(column=column)),
                    {"default": defaults[level], "level": level, "after": after, "last": last},
                )
                for row in rows.all():
                    alert = MissingAlert(level, event_type, severity, row)
                    missing.setdefault(row.wallet_id, []).append(alert)
        return missing

    async def _record_alerts(self, alerts: list[MissingAlert]) -> None:
        async with self._session_maker() as session, session.begin():
            for level, event_type, severity, row in alerts:
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

    @activity.defn(name=WAKE_OUTBOX_RELAY)
    async def wake_relay(self, request: WakeRelayInput) -> RelayWake:
        """Wake the relay if alerts were just recorded or events wait (pending, or stuck)."""
        async with self._session_maker() as session:
            waiting = await session.scalar(
                text(WAITING_EVENTS_SQL), {"stale": self._settings.outbox_stale_after}
            )
        events_waiting = int(waiting or 0)
        woken = bool(request.alerts_recorded or events_waiting)
        if woken:
            await wake_outbox_relay(
                self._client,
                task_queue=activity.info().task_queue,
                workflow_id=request.relay_workflow_id,
            )
        return RelayWake(events_waiting=events_waiting, woken=woken)

    @activity.defn(name=TRIGGER_DUE_AUTO_TOPUPS)
    async def trigger_due_topups(self, batch: WalletBatch) -> BatchOutcome:
        """Signal the top-up workflow of each of a page's wallets under its policy threshold with
        no top-up in flight; one trigger key per job run, so a retried batch buys nothing twice."""
        if not self._settings.token_auto_topup_enabled:
            return BatchOutcome(counts=JobCounts(), last_wallet_id=None)
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        if not page:
            return BatchOutcome(counts=JobCounts(), last_wallet_id=None)
        async with self._session_maker() as session:
            rows = await session.execute(
                text(DUE_TOPUPS_SQL), {"after": batch.after_wallet_id, "last": page[-1].id}
            )
            due = {row.wallet_id for row in rows}
        trigger = TopupTrigger(kind="check", key=f"check-run-{batch.job_run_id}")

        async def signal(wallet: WalletRow) -> WalletOutcome:
            if wallet.id not in due:
                return WalletOutcome(changed=False, details={"topups_triggered": 0})
            await signal_auto_topup(
                self._client,
                task_queue=activity.info().task_queue,
                wallet_id=wallet.id,
                organization_id=wallet.organization_id,
                trigger=trigger,
            )
            return WalletOutcome(changed=True, details={"topups_triggered": 1})

        return await handle_wallets(page, CHECK_AUTO_TOPUP_TRIGGERS_JOB, signal)
