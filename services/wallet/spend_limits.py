"""An organization's spend limits: read, replace the set, remove (tokens.configure; audited).
A deactivated organization's own users may read but not change them; an admin may."""

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.spend_limits import (
    LimitSpec,
    LimitState,
    read_limits,
    remove_limits,
    replace_limits,
    unusable_api_keys,
)
from services.errors import ServiceError, invalid, organization_inactive
from services.organizations import existing_organization


async def list_limits(session: AsyncSession, organization_id: int) -> list[LimitState]:
    await existing_organization(session, organization_id)
    return await read_limits(session, organization_id)


async def set_limits(
    session: AsyncSession,
    organization_id: int,
    wanted: list[LimitSpec],
    *,
    actor: Actor,
    acting_as_admin: bool,
    context: RequestContext,
) -> list[LimitState]:
    """Replace the organization's limits with `wanted` and commit."""
    await _changeable(session, organization_id, acting_as_admin)
    twice = [k for k, n in Counter((s.api_key_id, s.period) for s in wanted).items() if n > 1]
    if twice:
        key, period = twice[0]
        subject = "the organization" if key is None else f"API key {key}"
        raise _field_error("body.limits", f"{subject} has more than one {period} limit")
    unusable = await unusable_api_keys(
        session, organization_id, {s.api_key_id for s in wanted if s.api_key_id is not None}
    )
    if unusable:
        raise _field_error(
            "body.limits",
            f"API key {min(unusable)} does not spend for organization {organization_id}",
        )
    saved = await replace_limits(session, organization_id, wanted, actor=actor, context=context)
    await session.commit()
    return saved


async def clear_limits(
    session: AsyncSession,
    organization_id: int,
    *,
    actor: Actor,
    acting_as_admin: bool,
    context: RequestContext,
) -> int:
    """Remove every limit of the organization and commit; how many there were."""
    await _changeable(session, organization_id, acting_as_admin)
    removed = await remove_limits(session, organization_id, actor=actor, context=context)
    await session.commit()
    return removed


async def _changeable(session: AsyncSession, organization_id: int, acting_as_admin: bool) -> None:
    organization = await existing_organization(session, organization_id)
    if not acting_as_admin and not organization.is_active:
        raise organization_inactive(organization_id)


def _field_error(field: str, message: str) -> ServiceError:
    return invalid(
        "validation_error",
        f"{field}: {message}",
        {"errors": [{"field": field, "message": message, "type": "value_error"}]},
    )
