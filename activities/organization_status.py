"""A deactivated organization moves no money: its charges and top-up evaluations wait.

Like the ENABLE_TOKEN_SYSTEM switch (activities/token_switch.py), a refused step raises a
retryable error, not a final one: the workflows retry their charges and top-up evaluations
without limit, at most a minute apart, so they wait rather than fail, and the first attempt after
an admin reactivates the organization goes ahead under the same business key. Steps after a
captured charge (crediting, invoicing) still run: that money already moved.
"""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from db.directory import organization_is_active

ORGANIZATION_INACTIVE = "OrganizationInactive"


async def refuse_while_inactive(
    session_maker: async_sessionmaker[AsyncSession], organization_id: int, what: str
) -> None:
    """Raise the retryable OrganizationInactive error while the organization is deactivated."""
    async with session_maker() as session:
        active = await organization_is_active(session, organization_id)
    if active is False:
        raise ApplicationError(
            f"Organization {organization_id} is deactivated: {what} waits until it is reactivated",
            type=ORGANIZATION_INACTIVE,
        )
