"""Organizations, as admins manage them: create, list, deactivate, reactivate; and the rule that
a deactivated organization's own users may read but not change its configuration."""

from sqlalchemy.ext.asyncio import AsyncSession

from db import directory
from db.audit import Actor, RequestContext
from db.directory import OrganizationRecord
from services.administration.directory_errors import directory_refusals
from services.errors import organization_inactive


async def create_organization(
    session: AsyncSession, name: str, actor: Actor, context: RequestContext
) -> OrganizationRecord:
    return await directory.create_organization(session, name, actor=actor, context=context)


async def get_organization(session: AsyncSession, organization_id: int) -> OrganizationRecord:
    with directory_refusals():
        return await directory.get_organization(session, organization_id)


async def list_organizations(
    session: AsyncSession,
    *,
    active: bool | None,
    limit: int,
    offset: int,
    newest_first: bool = False,
) -> tuple[list[OrganizationRecord], int]:
    """Oldest first (the API's order) unless `newest_first` (the console's)."""
    return await directory.list_organizations(
        session, limit=limit, offset=offset, active=active, newest_first=newest_first
    )


async def deactivate_organization(
    session: AsyncSession, organization_id: int, actor: Actor, context: RequestContext
) -> OrganizationRecord:
    """Its spends, purchases, renewals and top-ups are refused until it is reactivated."""
    with directory_refusals():
        return await directory.deactivate_organization(
            session, organization_id, actor=actor, context=context
        )


async def reactivate_organization(
    session: AsyncSession, organization_id: int, actor: Actor, context: RequestContext
) -> OrganizationRecord:
    with directory_refusals():
        return await directory.reactivate_organization(
            session, organization_id, actor=actor, context=context
        )


async def refuse_configuring_inactive(
    session: AsyncSession, is_admin: bool, organization_id: int
) -> None:
    """Refuse (409 `organization_inactive`) a configuration change by the organization's own
    users while it is deactivated; admins still act on it."""
    if is_admin:
        return
    if await directory.organization_is_active(session, organization_id) is False:
        raise organization_inactive(organization_id)
