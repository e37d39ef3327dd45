"""Who may read finance figures: platform finance staff (services.access.sees_finance: an admin,
or a user of no organization holding `tokens.finance`, or of type `finance` holding
`tokens.view`). Everyone else is refused with 403, audited.
"""

from typing import Annotated

from fastapi import Depends, Request

from api.auth.dependencies import Principal, current_principal, deny
from services.access import sees_finance


async def require_finance(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    if not sees_finance(principal.user):
        await deny(
            request,
            principal,
            "This needs finance staff: an admin, or a user of no organization with "
            "tokens.finance (or a finance user with tokens.view).",
            organization_id=principal.organization_id,
            permission="finance",
        )
    return principal


FinanceStaff = Annotated[Principal, Depends(require_finance)]
