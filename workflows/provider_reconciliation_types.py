"""Names and payloads of reconcileProviderPayments: the provider reconciliation of yesterday (UTC)
as a scheduled job, kept only when PAYMENT_GATEWAY=stripe."""

from pydantic import BaseModel

RECONCILE_PROVIDER_PAYMENTS_JOB = "reconcileProviderPayments"
RECONCILE_PROVIDER_PAYMENTS_WORKFLOW = "ReconcileProviderPaymentsWorkflow"
RECONCILE_PROVIDER_DAY = "payments.reconcile_provider_day"


class ProviderDay(BaseModel):
    day: str
    """YYYY-MM-DD: the UTC day whose balance transactions are compared."""
    workflow_id: str


class ProviderDayOutcome(BaseModel):
    run_id: int
    provider_transactions: int
    ledger_operations: int
    mismatches: int
