"""Setting an organization's balance alert thresholds (audited)."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.thresholds import set_thresholds
from services.errors import invalid, organization_inactive
from services.organizations import existing_organization
from tokenbill.settings import Settings


@dataclass(frozen=True)
class ThresholdsSet:
    """The thresholds in force after the change; `*_is_default` when the deployment's applies."""

    organization_id: int
    wallet_id: int
    low: Decimal
    critical: Decimal
    low_is_default: bool
    critical_is_default: bool


async def configure_thresholds(
    session: AsyncSession,
    settings: Settings,
    organization_id: int,
    *,
    low: Decimal | None,
    critical: Decimal | None,
    actor: Actor,
    acting_as_admin: bool,
    context: RequestContext,
) -> ThresholdsSet:
    """Replace the wallet's thresholds (None: the default) and commit. A deactivated
    organization's own users may not; critical may not be above low."""
    organization = await existing_organization(session, organization_id)
    if not acting_as_admin and not organization.is_active:
        raise organization_inactive(organization_id)
    low_now = low if low is not None else settings.token_low_balance_threshold
    critical_now = critical if critical is not None else settings.token_critical_balance_threshold
    if critical_now > low_now:
        message = f"the critical threshold ({critical_now}) is above the low one ({low_now})"
        raise invalid(
            "validation_error",
            f"body.critical: {message}",
            {"errors": [{"field": "body.critical", "message": message, "type": "value_error"}]},
        )
    saved = await set_thresholds(
        session, organization_id, low=low, critical=critical, actor=actor, context=context
    )
    await session.commit()
    return ThresholdsSet(
        organization_id=organization_id, wallet_id=saved.wallet_id, low=low_now,
        critical=critical_now, low_is_default=low is None, critical_is_default=critical is None,
    )  # fmt: skip
