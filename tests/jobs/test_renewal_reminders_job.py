"""sendSubscriptionRenewalReminders on Temporal: a renewal due within the reminder lead gets one
reminder under SubscriptionWorkflow's own key, however often the job runs; a later one gets none."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from activities.renewal_reminders import RENEWAL_REMINDER, reminder_key
from tests.database_helpers import rows
from tests.jobs.conftest import Maker, run_job
from tests.subscription_helpers import create_package, insert_subscription
from tokenbill.settings import Settings
from workflows.operations_job_types import SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW


async def test_a_renewal_within_the_lead_is_reminded_once_and_a_later_one_not_yet(
    temporal_client: Client,
    jobs_queue: str,
    jobs_settings: Settings,
    session_maker: Maker,
    make_organization: Callable[[], Awaitable[int]],
) -> None:
    terms = await create_package(session_maker)
    now = datetime.now(UTC).replace(microsecond=0)
    lead = jobs_settings.token_subscription_reminder_lead
    soon = await insert_subscription(
        session_maker, await make_organization(), terms, anchor=now + lead / 2
    )
    later = await insert_subscription(
        session_maker, await make_organization(), terms, anchor=now + lead + timedelta(days=1)
    )

    first = await run_job(
        temporal_client, jobs_queue, SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
        history="renewal-reminders",
    )  # fmt: skip
    second = await run_job(
        temporal_client, jobs_queue, SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW
    )

    sent = await rows(
        session_maker,
        "SELECT idempotency_key, wallet_id FROM notification_events "
        "WHERE event_type = :t AND wallet_id = ANY(:wallets)",
        t=RENEWAL_REMINDER,
        wallets=[soon.wallet_id, later.wallet_id],
    )
    assert [(r.idempotency_key, r.wallet_id) for r in sent] == [
        (reminder_key(soon.subscription_id, soon.anchor), soon.wallet_id)
    ]
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert first.counts.details["reminders_sent"] >= 1
