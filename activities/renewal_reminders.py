"""sendSubscriptionRenewalReminders' batch: a reminder for each renewal due within the lead,
recorded under SubscriptionWorkflow's own key so it is sent once, by whichever comes first."""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.wallet_batches import WalletOutcome, handle_wallets, load_page
from db.notifications import record_event
from db.renewal_reminders import DueRenewal, renewals_due
from db.wallet_pages import WalletRow
from tokenbill.settings import Settings
from workflows.job_types import BatchOutcome, WalletBatch
from workflows.operations_job_types import (
    RENEWAL_REMINDERS_BATCH,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB,
)
from workflows.subscription_activity_types import period_key

RENEWAL_REMINDER = "subscription.renewal_reminder"


def reminder_key(subscription_id: int, billing_date: datetime) -> str:
    """The key SubscriptionWorkflow gives the same reminder."""
    return f"{period_key(subscription_id, billing_date.astimezone(UTC))}:{RENEWAL_REMINDER}"


class RenewalReminderActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.renewal_reminders_batch]

    @activity.defn(name=RENEWAL_REMINDERS_BATCH)
    async def renewal_reminders_batch(self, batch: WalletBatch) -> BatchOutcome:
        now = datetime.now(UTC)
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        due: dict[int, list[DueRenewal]] = defaultdict(list)
        if page:
            async with self._session_maker() as session:
                until = now + self._settings.token_subscription_reminder_lead
                for renewal in await renewals_due(session, [w.id for w in page], now, until):
                    due[renewal.wallet_id].append(renewal)

        async def handle(wallet: WalletRow) -> WalletOutcome:
            sent = 0
            for renewal in due[wallet.id]:
                sent += await self._remind(renewal)
            return WalletOutcome(changed=sent > 0, details={"reminders_sent": sent})

        return await handle_wallets(page, SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB, handle)

    async def _remind(self, renewal: DueRenewal) -> int:
        billing_date = renewal.next_billing_date.astimezone(UTC)
        async with self._session_maker() as session, session.begin():
            event_id = await record_event(
                session,
                idempotency_key=reminder_key(renewal.subscription_id, billing_date),
                event_type=RENEWAL_REMINDER,
                payload={
                    "subscription_id": renewal.subscription_id,
                    "billing_date": billing_date.isoformat(),
                    "package_id": renewal.package_id,
                },
                organization_id=renewal.organization_id,
                wallet_id=renewal.wallet_id,
            )
        return 0 if event_id is None else 1
