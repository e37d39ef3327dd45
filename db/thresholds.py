"""Per-wallet balance alert thresholds: set (audited) and read with the defaults filled in."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.ledger import ensure_wallet
from db.models import OrganizationTokenWallet


@dataclass(frozen=True)
class WalletThresholds:
    """The wallet's own thresholds; None means the deployment's default applies."""

    wallet_id: int
    low: Decimal | None
    critical: Decimal | None


async def set_thresholds(
    session: AsyncSession,
    organization_id: int,
    *,
    low: Decimal | None,
    critical: Decimal | None,
    actor: Actor,
    context: RequestContext | None = None,
) -> WalletThresholds:
    """Replace the wallet's thresholds (creating the wallet on first need), audited."""
    wallet_id = await ensure_wallet(session, organization_id)
    wallet = OrganizationTokenWallet
    before = (
        await session.execute(
            select(wallet.low_balance_threshold, wallet.critical_balance_threshold)
            .where(wallet.id == wallet_id)
            .with_for_update()
        )
    ).one()
    await session.execute(
        update(wallet)
        .where(wallet.id == wallet_id)
        .values(
            low_balance_threshold=low, critical_balance_threshold=critical, updated_at=func.now()
        )
        .execution_options(synchronize_session=False)
    )
    await write_audit(
        session, actor=actor, action="wallet.thresholds_update", organization_id=organization_id,
        target_type="wallet", target_id=wallet_id,
        before={"low": before[0], "critical": before[1]},
        after={"low": low, "critical": critical}, context=context,
    )  # fmt: skip
    return WalletThresholds(wallet_id, low, critical)
