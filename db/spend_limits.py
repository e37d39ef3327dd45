"""An organization's spend limits: read with the current period's usage, replaced as a set and
removed (audited). The wallet row is locked first, as every spend locks it, so a change never
lands between a spend's limit check and its count.

Judging and counting happen in SQL, in the spend's own transaction (migration 0020:
`ledger_spend_limited`, `ledger_spend_batch_limited`, `spend_limit_take`)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.ledger import ensure_wallet
from db.models import ApiKey, OrganizationTokenWallet, SpendLimit, SpendLimitUsage


@dataclass(frozen=True)
class LimitSpec:
    """One wanted limit: `api_key_id` None caps the whole organization."""

    api_key_id: int | None
    period: str
    cap: Decimal
    mode: str


@dataclass(frozen=True)
class LimitState:
    """A limit and its current UTC period: what was counted in it and when it ends."""

    id: int
    api_key_id: int | None
    period: str
    cap: Decimal
    mode: str
    used: Decimal
    period_start: datetime
    resets_at: datetime
    updated_at: datetime

    @property
    def scope(self) -> str:
        return "organization" if self.api_key_id is None else "api_key"


async def read_limits(
    session: AsyncSession, organization_id: int, at: datetime | None = None
) -> list[LimitState]:
    """The organization's limits, organization-wide first, with the usage of the period `at`
    (default: now) falls in."""
    when = func.now() if at is None else at
    start = func.spend_limit_period_start(SpendLimit.period, when)
    usage = SpendLimitUsage
    rows = await session.execute(
        select(
            SpendLimit.id, SpendLimit.api_key_id, SpendLimit.period, SpendLimit.cap,
            SpendLimit.mode, func.coalesce(usage.used, 0), start,
            func.spend_limit_period_end(SpendLimit.period, when), SpendLimit.updated_at,
        )
        .outerjoin(
            usage,
            and_(usage.organization_id == SpendLimit.organization_id,
                 usage.limit_id == SpendLimit.id, usage.period_start == start),
        )
        .where(SpendLimit.organization_id == organization_id)
        .order_by(SpendLimit.api_key_id.nulls_first(), SpendLimit.period, SpendLimit.id)
    )  # fmt: skip
    return [LimitState(*row) for row in rows]


async def unusable_api_keys(
    session: AsyncSession, organization_id: int, api_key_ids: set[int]
) -> set[int]:
    """The ids among these that name no API key spending for this organization (bound to it, or
    to every organization)."""
    if not api_key_ids:
        return set()
    found = await session.scalars(
        select(ApiKey.id).where(
            ApiKey.id.in_(api_key_ids),
            or_(ApiKey.organization_id == organization_id, ApiKey.organization_id.is_(None)),
        )
    )
    return api_key_ids - set(found)


async def replace_limits(
    session: AsyncSession,
    organization_id: int,
    wanted: list[LimitSpec],
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> list[LimitState]:
    """Make the organization's limits exactly `wanted`, audited. A limit kept (same API key and
    period) keeps its id and its usage; the others are removed with theirs."""
    wallet_id = await _lock_wallet(session, organization_id)
    before = await read_limits(session, organization_id)
    existing = {(limit.api_key_id, limit.period): limit for limit in before}
    kept: set[int] = set()
    for spec in wanted:
        same = existing.get((spec.api_key_id, spec.period))
        if same is None:
            session.add(
                SpendLimit(
                    organization_id=organization_id, api_key_id=spec.api_key_id,
                    period=spec.period, cap=spec.cap, mode=spec.mode,
                )
            )  # fmt: skip
            continue
        kept.add(same.id)
        if (same.cap, same.mode) != (spec.cap, spec.mode):
            row = await session.get(SpendLimit, (organization_id, same.id))
            assert row is not None
            row.cap, row.mode, row.updated_at = spec.cap, spec.mode, func.now()
    gone = [limit.id for limit in before if limit.id not in kept]
    if gone:
        await session.execute(
            delete(SpendLimit).where(
                SpendLimit.organization_id == organization_id, SpendLimit.id.in_(gone)
            )
        )
    await session.flush()
    after = await read_limits(session, organization_id)
    await write_audit(
        session, actor=actor, action="wallet.spend_limits_update",
        organization_id=organization_id, target_type="wallet", target_id=wallet_id,
        before={"limits": [_audited(limit) for limit in before]},
        after={"limits": [_audited(limit) for limit in after]}, context=context,
    )  # fmt: skip
    return after


async def remove_limits(
    session: AsyncSession,
    organization_id: int,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> int:
    """Remove every limit of the organization (and their usage), audited; how many there were."""
    wallet_id = await _lock_wallet(session, organization_id)
    before = await read_limits(session, organization_id)
    await session.execute(delete(SpendLimit).where(SpendLimit.organization_id == organization_id))
    await write_audit(
        session, actor=actor, action="wallet.spend_limits_delete",
        organization_id=organization_id, target_type="wallet", target_id=wallet_id,
        before={"limits": [_audited(limit) for limit in before]}, after={"limits": []},
        context=context,
    )  # fmt: skip
    return len(before)


async def _lock_wallet(session: AsyncSession, organization_id: int) -> int:
    wallet_id = await ensure_wallet(session, organization_id)
    await session.execute(
        select(OrganizationTokenWallet.id)
        .where(OrganizationTokenWallet.id == wallet_id)
        .with_for_update()
    )
    return wallet_id


def _audited(limit: LimitState) -> dict[str, Any]:
    return {
        "id": limit.id, "scope": limit.scope, "api_key_id": limit.api_key_id,
        "period": limit.period, "cap": limit.cap, "mode": limit.mode,
    }  # fmt: skip
