"""Who may read finance figures: platform finance staff.

That is an admin, or a user of type `finance` holding `tokens.view` (finance staff see every
organization's revenue, so they belong to none). Everyone else is refused with 403, audited.
"""

from typing import Annotated

from fastapi import Depends, Request

from api.auth.dependencies import Principal, current_principal, deny
from services.access import is_finance_staff as finance_staff


def is_finance_staff(principal: Principal) -> bool:
    return finance_staff(principal.user)


async def require_finance(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    if not is_finance_staff(principal):
        await deny(
            request,
            principal,
            "This needs finance staff: an admin, or a finance user with tokens.view.",
            organization_id=principal.organization_id,
            permission="finance",
        )
    return principal


FinanceStaff = Annotated[Principal, Depends(require_finance)]
