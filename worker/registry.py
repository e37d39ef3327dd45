"""Everything the worker serves, listed once: the workflows it runs, the activities it builds with
their dependencies, and the background jobs it keeps as Temporal Schedules.

Nothing registers itself by being imported: a workflow, an activity or a job is served because
it is listed here. Job names are the schedule ids operators know (the seed's nine jobs and
resumePendingPurchases); `JOB_SCHEDULES` in settings overrides their cadences.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.audit_retention import AuditRetentionActivities
from activities.auto_topup import AutoTopupActivities
from activities.balance_checks import BalanceCheckActivities
from activities.expiry import ExpiryActivities
from activities.finance_reports import MonthlyReportActivities
from activities.forecasts import ForecastActivities
from activities.hold_expiry import HoldExpiryActivities
from activities.job_runs import JobRunActivities
from activities.outbox_relay import OutboxRelayActivities
from activities.payments.factory import build_gateway
from activities.payments.gateway import PaymentGateway
from activities.payments.provider_reconciliation import ProviderReconciliationActivities
from activities.purchase_recovery import PurchaseRecoveryActivities
from activities.purchases import PurchaseActivities
from activities.reconciliation import ReconciliationActivities
from activities.renewal_reminders import RenewalReminderActivities
from activities.subscription_repair import SubscriptionRepairActivities
from activities.subscriptions import SubscriptionActivities
from activities.webhook_delivery import WebhookDeliveryActivities
from tokenbill.settings import Settings
from workflows.audit_retention import CleanupOldAuditLogsWorkflow
from workflows.auto_topup import AutoTopupWorkflow
from workflows.balance_check_types import (
    AUTO_TOPUP_CHECK_WORKFLOW,
    CHECK_AUTO_TOPUP_TRIGGERS_JOB,
    CHECK_LOW_BALANCE_THRESHOLDS_JOB,
    LOW_BALANCE_CHECK_WORKFLOW,
)
from workflows.balance_checks import AutoTopupCheckWorkflow, LowBalanceCheckWorkflow
from workflows.expire_holds import ExpireHoldsWorkflow
from workflows.expire_tokens import CleanupExpiredTokensWorkflow
from workflows.finance_job_types import (
    CLEANUP_OLD_AUDIT_LOGS_JOB,
    CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
    GENERATE_MONTHLY_REPORTS_JOB,
    GENERATE_MONTHLY_REPORTS_WORKFLOW,
)
from workflows.hold_expiry_types import EXPIRE_HOLDS_JOB, EXPIRE_HOLDS_WORKFLOW
from workflows.monthly_reports import GenerateMonthlyReportsWorkflow
from workflows.operations_job_types import (
    CLEANUP_EXPIRED_TOKENS_JOB,
    CLEANUP_EXPIRED_TOKENS_WORKFLOW,
    RECONCILE_WALLET_BALANCES_JOB,
    RECONCILE_WALLET_BALANCES_WORKFLOW,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
    UPDATE_USAGE_FORECASTS_JOB,
    UPDATE_USAGE_FORECASTS_WORKFLOW,
)
from workflows.outbox_relay import OutboxRelayWorkflow
from workflows.provider_reconciliation import ReconcileProviderPaymentsWorkflow
from workflows.provider_reconciliation_types import (
    RECONCILE_PROVIDER_PAYMENTS_JOB,
    RECONCILE_PROVIDER_PAYMENTS_WORKFLOW,
)
from workflows.purchase import PurchaseWorkflow
from workflows.purchase_recovery import ResumePendingPurchasesWorkflow
from workflows.purchase_recovery_types import (
    RESUME_PENDING_PURCHASES_JOB,
    RESUME_PENDING_PURCHASES_WORKFLOW,
)
from workflows.reconcile_wallets import ReconcileWalletBalancesWorkflow
from workflows.renewal_reminders import SendSubscriptionRenewalRemindersWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_billing_job import (
    PROCESS_SUBSCRIPTION_BILLING_JOB,
    PROCESS_SUBSCRIPTION_BILLING_WORKFLOW,
    ProcessSubscriptionBillingWorkflow,
)
from workflows.update_forecasts import UpdateUsageForecastsWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow


@dataclass(frozen=True)
class JobSchedule:
    """A background job: its schedule id, the workflow type it starts and its default cadence."""

    name: str
    workflow: str
    cron: str
    description: str
    moves_money: bool = False
    """It charges, or starts what charges, or moves tokens: paused while the switch is off."""


WORKFLOWS: tuple[type, ...] = (
    # purchases
    PurchaseWorkflow,
    ResumePendingPurchasesWorkflow,
    # subscriptions
    SubscriptionWorkflow,
    ProcessSubscriptionBillingWorkflow,
    # notifications and automatic top-up
    OutboxRelayWorkflow,
    WebhookDeliveryWorkflow,
    AutoTopupWorkflow,
    LowBalanceCheckWorkflow,
    AutoTopupCheckWorkflow,
    # operations jobs
    CleanupExpiredTokensWorkflow,
    ExpireHoldsWorkflow,
    ReconcileWalletBalancesWorkflow,
    UpdateUsageForecastsWorkflow,
    SendSubscriptionRenewalRemindersWorkflow,
    # finance and audit jobs
    GenerateMonthlyReportsWorkflow,
    CleanupOldAuditLogsWorkflow,
    # the payment provider's job (scheduled only with PAYMENT_GATEWAY=stripe)
    ReconcileProviderPaymentsWorkflow,
)

JOB_SCHEDULES: tuple[JobSchedule, ...] = (
    JobSchedule(
        PROCESS_SUBSCRIPTION_BILLING_JOB,
        PROCESS_SUBSCRIPTION_BILLING_WORKFLOW,
        "0 * * * *",
        "Start or repair subscriptions whose workflow is missing or whose billing date passed",
        moves_money=True,
    ),
    JobSchedule(
        CHECK_AUTO_TOPUP_TRIGGERS_JOB,
        AUTO_TOPUP_CHECK_WORKFLOW,
        "*/30 * * * *",
        "Signal the auto top-up of wallets under their threshold with no top-up in flight",
        moves_money=True,
    ),
    JobSchedule(
        CHECK_LOW_BALANCE_THRESHOLDS_JOB,
        LOW_BALANCE_CHECK_WORKFLOW,
        "*/15 * * * *",
        "Record low-balance notifications a crossing is missing; wake the outbox relay",
    ),
    JobSchedule(
        UPDATE_USAGE_FORECASTS_JOB,
        UPDATE_USAGE_FORECASTS_WORKFLOW,
        "0 0 * * *",
        "Forecast each wallet's consumption, depletion date and a package to cover it",
    ),
    JobSchedule(
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB,
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
        "0 8 * * *",
        "Remind of renewals due within the reminder lead that their workflow has not reminded of",
    ),
    JobSchedule(
        CLEANUP_EXPIRED_TOKENS_JOB,
        CLEANUP_EXPIRED_TOKENS_WORKFLOW,
        "0 2 * * *",
        "Expire the unspent remainder of lots past their date; warn ahead of expiry",
        moves_money=True,
    ),
    # Not paused with the token switch off: it only gives held tokens back to their wallets, which
    # a switched-off system should not keep locked.
    JobSchedule(
        EXPIRE_HOLDS_JOB,
        EXPIRE_HOLDS_WORKFLOW,
        "* * * * *",
        "Release every hold past its expiry (within a minute of it)",
    ),
    JobSchedule(
        RECONCILE_WALLET_BALANCES_JOB,
        RECONCILE_WALLET_BALANCES_WORKFLOW,
        "0 3 * * *",
        "Prove every balance against its entries and lots; report mismatches, fix nothing",
    ),
    JobSchedule(
        GENERATE_MONTHLY_REPORTS_JOB,
        GENERATE_MONTHLY_REPORTS_WORKFLOW,
        "0 0 1 * *",
        "Store last month's revenue, purchases, subscriptions, consumption and expiry report",
    ),
    JobSchedule(
        CLEANUP_OLD_AUDIT_LOGS_JOB,
        CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
        "0 0 * * 0",
        "Create audit-log partitions ahead; drop those past AUDIT_LOG_RETENTION_DAYS, "
        "Idempotency-Key records past IDEMPOTENCY_KEY_RETENTION and spend limit usage past "
        "SPEND_LIMIT_USAGE_RETENTION",
    ),
    JobSchedule(
        RESUME_PENDING_PURCHASES_JOB,
        RESUME_PENDING_PURCHASES_WORKFLOW,
        "*/5 * * * *",
        "Start accepted purchases whose workflow never started (the API died after its commit)",
        moves_money=True,
    ),
)

# Kept as schedules only when PAYMENT_GATEWAY=stripe (job_schedules): the seed jobs above, and
# their count, do not change with the gateway.
PROVIDER_JOB_SCHEDULES: tuple[JobSchedule, ...] = (
    JobSchedule(
        RECONCILE_PROVIDER_PAYMENTS_JOB,
        RECONCILE_PROVIDER_PAYMENTS_WORKFLOW,
        "30 4 * * *",
        "Compare yesterday's Stripe balance transactions with the ledger's charges and refunds; "
        "report mismatches, fix nothing (PAYMENT_GATEWAY=stripe only)",
    ),
)
ALL_JOB_SCHEDULES: tuple[JobSchedule, ...] = JOB_SCHEDULES + PROVIDER_JOB_SCHEDULES


def job_schedules(settings: Settings | None = None) -> tuple[JobSchedule, ...]:
    """The jobs kept as schedules with these settings: every seed job, plus the provider's when
    the payment gateway is Stripe. Without settings: the seed jobs."""
    if settings is not None and settings.payment_gateway == "stripe":
        return ALL_JOB_SCHEDULES
    return JOB_SCHEDULES


def build_activities(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    client: Client,
    gateway: PaymentGateway | None = None,
) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one session maker, one payment gateway (the
    settings' own unless given) and the worker's Temporal client."""
    payments = gateway if gateway is not None else build_gateway(settings, session_maker)
    return [
        # purchases
        *PurchaseActivities(session_maker, payments, settings).definitions(),
        *PurchaseRecoveryActivities(session_maker, settings).definitions(),
        # subscriptions
        *SubscriptionActivities(session_maker, payments, settings).definitions(),
        *SubscriptionRepairActivities(session_maker, settings).definitions(),
        # notifications and automatic top-up
        *OutboxRelayActivities(session_maker, settings, client).definitions(),
        *WebhookDeliveryActivities(session_maker, settings).definitions(),
        *AutoTopupActivities(session_maker, settings).definitions(),
        *BalanceCheckActivities(session_maker, settings, client).definitions(),
        # the job-run bookkeeping of every job, and the operations jobs
        *JobRunActivities(session_maker).definitions(),
        *ExpiryActivities(session_maker, settings).definitions(),
        *HoldExpiryActivities(session_maker, settings).definitions(),
        *ReconciliationActivities(session_maker, settings).definitions(),
        *ForecastActivities(session_maker, settings).definitions(),
        *RenewalReminderActivities(session_maker, settings).definitions(),
        # finance and audit jobs
        *MonthlyReportActivities(session_maker).definitions(),
        *AuditRetentionActivities(settings).definitions(),
        # the payment provider's job (refuses to run unless PAYMENT_GATEWAY=stripe)
        *ProviderReconciliationActivities(session_maker, settings).definitions(),
    ]
