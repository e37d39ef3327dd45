"""Per-wallet balance alert thresholds: set (audited) and read with the defaults filled in."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.ledger import ensure_wallet


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
    before = (
        await session.execute(
            text(
                "SELECT low_balance_threshold, critical_balance_threshold "
                "FROM organization_token_wallets WHERE id = :w FOR UPDATE"
            ),
            {"w": wallet_id},
        )
    ).one()
    await session.execute(
        text(
            "UPDATE organization_token_wallets SET low_balance_threshold = :low, "
            "critical_balance_threshold = :critical, updated_at = now() WHERE id = :w"
        ),
        {"low": low, "critical": critical, "w": wallet_id},
    )
    await write_audit(
        session, actor=actor, action="wallet.thresholds_update", organization_id=organization_id,
        target_type="wallet", target_id=wallet_id,
        before={"low": before[0], "critical": before[1]},
        after={"low": low, "critical": critical}, context=context,
    )  # fmt: skip
    return WalletThresholds(wallet_id, low, critical)
