"""Which organization a page shows: the user's own, or the one an admin names in
`?organization_id=` (anyone else naming another organization gets the audited 403 page)."""

from typing import Annotated

from fastapi import Query, Request

from web.auth import refuse_apart
from web.console_user import ConsoleUser

MAX_ROW_ID = 2**31 - 1
OrganizationChoice = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]


async def chosen_organization(
    request: Request, user: ConsoleUser, organization_id: int | None
) -> int | None:
    """The organization to show; None when an admin has not chosen one."""
    chosen = organization_id if organization_id is not None else user.user.organization_id
    if chosen is not None and not user.sees_organization(chosen):
        raise await refuse_apart(
            request, user, "You may only see your own organization's wallet.",
            organization_id=chosen,
        )  # fmt: skip
    return chosen
