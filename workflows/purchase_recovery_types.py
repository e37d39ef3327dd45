"""The purchase safety net's names and payloads."""

from pydantic import BaseModel

from workflows.purchase_types import PurchaseInput

RESUME_PENDING_PURCHASES_WORKFLOW = "ResumePendingPurchasesWorkflow"
FIND_STALLED_PURCHASES = "purchase.find_stalled"
RESUME_PENDING_PURCHASES_JOB = "resumePendingPurchases"


class StalledPurchases(BaseModel):
    purchases: list[PurchaseInput]


class ResumeResult(BaseModel):
    seen: int
    started: int
    already_running: int
