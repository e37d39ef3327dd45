"""Names and payloads of expireHolds: release every active hold past its expiry."""

from pydantic import BaseModel

EXPIRE_HOLDS_JOB = "expireHolds"
EXPIRE_HOLDS_WORKFLOW = "ExpireHoldsWorkflow"
EXPIRE_DUE_HOLDS = "holds.expire_due"


class HoldExpiryResult(BaseModel):
    seen: int
    """Holds found past their expiry."""
    expired: int
    """Of those, the ones this run released (the others were captured or released first)."""
