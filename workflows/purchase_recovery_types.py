"""The purchase safety net's names and payloads."""

from workflows.job_types import BatchOutcome
from workflows.purchase_types import PurchaseInput

RESUME_PENDING_PURCHASES_WORKFLOW = "ResumePendingPurchasesWorkflow"
FIND_STALLED_PURCHASES = "purchase.find_stalled"
RESUME_PENDING_PURCHASES_JOB = "resumePendingPurchases"


class StalledPurchases(BatchOutcome):
    """A page of stalled purchases (the job's cursor is the purchase id), for the workflow to
    start; the counts are of the purchases seen."""

    purchases: list[PurchaseInput]
