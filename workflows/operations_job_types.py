"""Names of the operations jobs: the seed's job name, the workflow type it starts and the
activities it calls."""

CLEANUP_EXPIRED_TOKENS_JOB = "cleanupExpiredTokens"
RECONCILE_WALLET_BALANCES_JOB = "reconcileWalletBalances"
UPDATE_USAGE_FORECASTS_JOB = "updateUsageForecasts"

CLEANUP_EXPIRED_TOKENS_WORKFLOW = "CleanupExpiredTokensWorkflow"
RECONCILE_WALLET_BALANCES_WORKFLOW = "ReconcileWalletBalancesWorkflow"
UPDATE_USAGE_FORECASTS_WORKFLOW = "UpdateUsageForecastsWorkflow"

EXPIRE_TOKENS_BATCH = "jobs.expire_tokens_batch"
BEGIN_RECONCILIATION = "jobs.begin_reconciliation"
RECONCILE_BATCH = "jobs.reconcile_batch"
CONCLUDE_RECONCILIATION = "jobs.conclude_reconciliation"
FORECAST_BATCH = "jobs.forecast_batch"

SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB = "sendSubscriptionRenewalReminders"
SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW = "SendSubscriptionRenewalRemindersWorkflow"
RENEWAL_REMINDERS_BATCH = "jobs.renewal_reminders_batch"
