"""The safety-net jobs' activities: a page of wallets' missing low-balance notifications, waking
the relay, and signalling the top-up workflows of a page's wallets left under their threshold."""

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from activities.wallet_batches import WalletOutcome, handle_wallets, load_page
from db.notifications import Severity, record_event
from db.safety_net import (
    MissedCrossing,
    events_waiting,
    missed_crossings,
    record_low_balance_notification,
    wallets_due_topup,
)
from db.wallet_pages import WalletRow
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup, wake_outbox_relay
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
from workflows.outbox_types import BALANCE_CRITICAL, BALANCE_LOW

logger = logging.getLogger("tokenbill.jobs")
LEVELS: tuple[tuple[str, str, Severity], ...] = (
    ("low", BALANCE_LOW, "warning"),
    ("critical", BALANCE_CRITICAL, "critical"),
)


class MissingAlert(NamedTuple):
    level: str
    event_type: str
    severity: Severity
    crossing: MissedCrossing


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
                crossings = await missed_crossings(
                    session, level, defaults[level], after=after, last=last
                )
                for crossing in crossings:
                    alert = MissingAlert(level, event_type, severity, crossing)
                    missing.setdefault(crossing.wallet_id, []).append(alert)
        return missing

    async def _record_alerts(self, alerts: list[MissingAlert]) -> None:
        async with self._session_maker() as session, session.begin():
            for level, event_type, severity, crossing in alerts:
                notification_id = await record_low_balance_notification(session, crossing, level)
                await record_event(
                    session,
                    idempotency_key=f"balance_{level}:{crossing.wallet_id}:{crossing.transaction_id}",
                    event_type=event_type,
                    payload={
                        "wallet_id": crossing.wallet_id,
                        "organization_id": crossing.organization_id, "level": level,
                        "threshold": crossing.threshold, "balance": crossing.balance,
                        "transaction_id": crossing.transaction_id,
                        "notification_id": notification_id, "recorded_by": "safety_net",
                    },
                    organization_id=crossing.organization_id,
                    wallet_id=crossing.wallet_id,
                    severity=severity,
                )  # fmt: skip

    @activity.defn(name=WAKE_OUTBOX_RELAY)
    async def wake_relay(self, request: WakeRelayInput) -> RelayWake:
        """Wake the relay if alerts were just recorded or events wait (pending, or stuck)."""
        async with self._session_maker() as session:
            waiting = await events_waiting(session, self._settings.outbox_stale_after)
        woken = bool(request.alerts_recorded or waiting)
        if woken:
            await wake_outbox_relay(
                WorkflowClient.over(self._client, activity.info().task_queue),
                workflow_id=request.relay_workflow_id,
            )
        return RelayWake(events_waiting=waiting, woken=woken)

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
            due = await wallets_due_topup(session, after=batch.after_wallet_id, last=page[-1].id)
        trigger = TopupTrigger(kind="check", key=f"check-run-{batch.job_run_id}")

        async def signal(wallet: WalletRow) -> WalletOutcome:
            if wallet.id not in due:
                return WalletOutcome(changed=False, details={"topups_triggered": 0})
            await signal_auto_topup(
                WorkflowClient.over(self._client, activity.info().task_queue),
                wallet_id=wallet.id,
                organization_id=wallet.organization_id,
                trigger=trigger,
            )
            return WalletOutcome(changed=True, details={"topups_triggered": 1})

        return await handle_wallets(page, CHECK_AUTO_TOPUP_TRIGGERS_JOB, signal)
