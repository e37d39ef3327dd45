"""An organization's wallet and its balance history (tokens.view, own organization)."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Viewer, authorize_organization
from api.deps import OrganizationId, Session, SettingsDep
from api.errors import ApiError
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, Page
from api.schemas.wallet import BalanceChangeOut, ChangeType, Thresholds, WalletOut
from db.expiry import expired_pending
from db.models import Organization, OrganizationTokenWallet, TokenBalanceHistory

router = APIRouter(prefix="/wallet", tags=["wallet"], responses=AUTH_ERRORS)
ZERO = Decimal(0)


async def _require_organization(session: AsyncSession, organization_id: int) -> None:
    if await session.get(Organization, organization_id) is None:
        raise ApiError(
            404, "organization_not_found", f"Organization {organization_id} does not exist."
        )


@router.get(
    "/{organization_id}",
    summary="Read an organization's wallet",
    description="Requires `tokens.view` on the organization (a user sees only its own; an admin "
    "any). An organization that has not bought tokens yet shows a zero balance.",
)
async def get_wallet(
    request: Request,
    principal: Viewer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> WalletOut:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
    wallet = await session.scalar(
        select(OrganizationTokenWallet).where(
            OrganizationTokenWallet.organization_id == organization_id
        )
    )
    defaults = Thresholds(
        low=settings.token_low_balance_threshold,
        critical=settings.token_critical_balance_threshold,
    )
    if wallet is None:
        return WalletOut(
            organization_id=organization_id, wallet_id=None, current_balance=ZERO,
            spendable_balance=ZERO, expired_pending=ZERO, total_purchased=ZERO,
            total_consumed=ZERO, currency=settings.token_currency,
            thresholds=defaults, updated_at=None,
        )  # fmt: skip
    expired = await expired_pending(session, wallet.id)
    return WalletOut(
        organization_id=organization_id,
        wallet_id=wallet.id,
        current_balance=wallet.current_balance,
        spendable_balance=wallet.current_balance - expired,
        expired_pending=expired,
        total_purchased=wallet.total_purchased,
        total_consumed=wallet.total_consumed,
        currency=settings.token_currency,
        thresholds=Thresholds(
            low=wallet.low_balance_threshold or defaults.low,
            critical=wallet.critical_balance_threshold or defaults.critical,
        ),
        updated_at=wallet.updated_at,
    )


@router.get(
    "/{organization_id}/history",
    summary="List an organization's balance changes",
    description="Requires `tokens.view` on the organization. Newest first; filter by "
    "`change_type` and by `created_from` / `created_to` (ISO 8601 with zone).",
)
async def get_history(
    request: Request,
    principal: Viewer,
    session: Session,
    organization_id: OrganizationId,
    page: PageParams,
    change_type: Annotated[ChangeType | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[BalanceChangeOut]:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
    query = select(TokenBalanceHistory).where(
        TokenBalanceHistory.organization_id == organization_id
    )
    if change_type is not None:
        query = query.where(TokenBalanceHistory.change_type == change_type)
    if created_from is not None:
        query = query.where(TokenBalanceHistory.created_at >= created_from)
    if created_to is not None:
        query = query.where(TokenBalanceHistory.created_at < created_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenBalanceHistory.created_at.desc(), TokenBalanceHistory.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return Page[BalanceChangeOut](
        items=[_change_out(row) for row in rows],
        total=int(total or 0),
        limit=page.limit,
        offset=page.offset,
    )


def _change_out(row: TokenBalanceHistory) -> BalanceChangeOut:
    return BalanceChangeOut(
        id=row.id, change_type=row.change_type, change_amount=row.change_amount,
        balance_before=row.balance_before, balance_after=row.balance_after,
        description=row.description, reference=row.reference, created_at=row.created_at,
    )  # fmt: skip
