"""The operations jobs (expiry, reconciliation, forecasts, renewal reminders) and the job-run
bookkeeping every job workflow built on workflows.wallet_job uses: schedules, workflows and
activities."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.expiry import ExpiryActivities
from activities.forecasts import ForecastActivities
from activities.job_runs import JobRunActivities
from activities.reconciliation import ReconciliationActivities
from activities.renewal_reminders import RenewalReminderActivities
from tokenbill.settings import Settings
from worker.schedules import JobSchedule, register
from workflows.expire_tokens import CleanupExpiredTokensWorkflow
from workflows.operations_job_types import (
    CLEANUP_EXPIRED_TOKENS,
    CLEANUP_EXPIRED_TOKENS_WORKFLOW,
    RECONCILE_WALLET_BALANCES,
    RECONCILE_WALLET_BALANCES_WORKFLOW,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
    UPDATE_USAGE_FORECASTS,
    UPDATE_USAGE_FORECASTS_WORKFLOW,
)
from workflows.reconcile_wallets import ReconcileWalletBalancesWorkflow
from workflows.renewal_reminders import SendSubscriptionRenewalRemindersWorkflow
from workflows.update_forecasts import UpdateUsageForecastsWorkflow

OPERATIONS_WORKFLOWS: list[type] = [
    CleanupExpiredTokensWorkflow,
    ReconcileWalletBalancesWorkflow,
    UpdateUsageForecastsWorkflow,
    SendSubscriptionRenewalRemindersWorkflow,
]

register(
    JobSchedule(
        UPDATE_USAGE_FORECASTS,
        UPDATE_USAGE_FORECASTS_WORKFLOW,
        "0 0 * * *",
        "Forecast each wallet's consumption, depletion date and a package to cover it",
    )
)
register(
    JobSchedule(
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS,
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
        "0 8 * * *",
        "Remind of renewals due within the reminder lead that their workflow has not reminded of",
    )
)
register(
    JobSchedule(
        CLEANUP_EXPIRED_TOKENS,
        CLEANUP_EXPIRED_TOKENS_WORKFLOW,
        "0 2 * * *",
        "Expire the unspent remainder of lots past their date; warn ahead of expiry",
        moves_money=True,
    )
)
register(
    JobSchedule(
        RECONCILE_WALLET_BALANCES,
        RECONCILE_WALLET_BALANCES_WORKFLOW,
        "0 3 * * *",
        "Prove every balance against its entries and lots; report mismatches, fix nothing",
    )
)


def operations_activities(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> list[Callable[..., Any]]:
    return [
        *JobRunActivities(session_maker).definitions(),
        *ExpiryActivities(session_maker, settings).definitions(),
        *ReconciliationActivities(session_maker, settings).definitions(),
        *ForecastActivities(session_maker, settings).definitions(),
        *RenewalReminderActivities(session_maker, settings).definitions(),
    ]
