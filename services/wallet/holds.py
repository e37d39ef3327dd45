"""Holds: reserve tokens, then capture all or part (the rest is released), release, or let them
expire. Each command is one statement on the spend pool, like a spend; with the coalescer on
(SPEND_COALESCE_WINDOW) a new hold, a capture and a release share their transaction with the
spends and hold commands that arrive beside them, as single spends do. A refusal is a
ServiceError and leaves nothing written."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from psycopg import AsyncConnection, OperationalError
from psycopg_pool import PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from db.holds import (
    CaptureRequest,
    HoldOutcome,
    HoldRequest,
    HoldStatus,
    SettleRequest,
    capture_holds,
    hold_of,
    list_holds,
    place_hold,
    settle_hold,
)
from db.models import TokenHold
from db.spend_pool import SpendPool
from db.spending import SpendContext
from domain.amounts import plain_decimal
from services.errors import (
    ErrorKind,
    ServiceError,
    conflict,
    invalid,
    not_found,
    organization_inactive,
    organization_not_found,
    unavailable,
)
from services.organizations import existing_organization
from services.wallet.spending import SpendLine, limit_reached, unavailable_when_down
from tokenbill.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class HoldTtls:
    """How long a hold lasts when its request does not say (TOKEN_HOLD_DEFAULT_TTL) and at most
    (TOKEN_HOLD_MAX_TTL): read from the settings once, when the spend routes' state opens."""

    default: timedelta
    longest: timedelta

    @staticmethod
    def of(settings: Settings) -> "HoldTtls":
        return HoldTtls(settings.token_hold_default_ttl, settings.token_hold_max_ttl)


@dataclass(frozen=True)
class HoldTerms:
    """When a new hold expires: `expires_at`, or `ttl` from now, or the default TTL; never
    later than the longest TTL from now."""

    expires_at: datetime | None
    ttl: timedelta | None
    ttl_text: str | None


def hold_expiry(ttls: HoldTtls, terms: HoldTerms, now: datetime) -> tuple[datetime, str]:
    """The hold's expiry and how it was asked for (part of what its key is bound to)."""
    if terms.expires_at is not None and terms.ttl is not None:
        raise invalid("invalid_hold_expiry", "Give expires_at or ttl, not both.")
    if terms.expires_at is not None:
        expires_at, asked = terms.expires_at, "at:" + terms.expires_at.isoformat()
    else:
        ttl = terms.ttl or ttls.default
        expires_at, asked = now + ttl, "ttl:" + (terms.ttl_text or "default")
    if expires_at <= now:
        raise invalid("invalid_hold_expiry", "A hold must expire in the future.")
    if expires_at - now > ttls.longest:
        raise invalid(
            "invalid_hold_expiry",
            f"A hold may last at most {ttls.longest} (TOKEN_HOLD_MAX_TTL) from now.",
            {"max_ttl_seconds": int(ttls.longest.total_seconds())},
        )
    return expires_at, asked[:64]


async def reserve(line: SpendLine, wanted: HoldRequest, context: SpendContext) -> HoldOutcome:
    """Place a hold (or replay the one the key made); 409 insufficient_balance when the
    available amount is less. A hold that takes the available balance under a low, critical or
    auto top-up threshold records the alerts a spend would (once per crossing)."""
    coalescer = line.coalescer
    if coalescer is not None:
        outcome = await unavailable_when_down(coalescer.hold(wanted, context))
    else:
        outcome = await on_pool(
            line.pool, lambda conn: place_hold(conn, wanted, context, line.defaults)
        )
    if outcome.events:
        line.relay.nudge()  # the hold crossed a balance threshold: its alerts are in the outbox
    if not outcome.succeeded:
        raise refusal(outcome, wanted.amount)
    return outcome


async def capture(
    line: SpendLine,
    organization_id: int,
    hold_id: int,
    amount: Decimal | None,
    context: SpendContext,
) -> HoldOutcome:
    """Capture `amount` of the hold (None: all of it); the rest is released."""
    wanted = SettleRequest(organization_id, hold_id, "captured", amount)
    outcome = await _settle(line, wanted, context)
    if outcome.events:
        line.relay.nudge()  # a soft spend limit reached: its notification is in the outbox
    if not outcome.succeeded:
        raise refusal(outcome, amount)
    return outcome


async def release(
    line: SpendLine, organization_id: int, hold_id: int, context: SpendContext
) -> HoldOutcome:
    wanted = SettleRequest(organization_id, hold_id, "released")
    outcome = await _settle(line, wanted, context)
    if not outcome.succeeded:
        raise refusal(outcome, None)
    return outcome


async def _settle(line: SpendLine, wanted: SettleRequest, context: SpendContext) -> HoldOutcome:
    coalescer = line.coalescer
    if coalescer is not None:
        return await unavailable_when_down(coalescer.settle(wanted, context))
    return await on_pool(
        line.pool,
        lambda conn: settle_hold(
            conn, wanted.organization_id, wanted.hold_id, wanted.outcome, wanted.amount, context
        ),
    )


async def capture_many(
    line: SpendLine, wanted: Sequence[CaptureRequest], context: SpendContext
) -> list[HoldOutcome]:
    """Capture many holds in one transaction; outcomes in the order asked (see `refusal`)."""
    outcomes = await on_pool(line.pool, lambda conn: capture_holds(conn, wanted, context))
    if any(o.events for o in outcomes):
        line.relay.nudge()
    return outcomes


async def read_hold(session: AsyncSession, organization_id: int, hold_id: int) -> TokenHold:
    hold = await hold_of(session, organization_id, hold_id)
    if hold is None:
        await existing_organization(session, organization_id)
        raise _hold_not_found(organization_id, hold_id)
    return hold


async def page_of_holds(
    session: AsyncSession,
    organization_id: int,
    status: HoldStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[TokenHold], int]:
    await existing_organization(session, organization_id)
    return await list_holds(session, organization_id, status, limit=limit, offset=offset)


def refusal(outcome: HoldOutcome, asked: Decimal | None) -> ServiceError:
    """Why a hold, a capture or a release was refused."""
    org, hold = outcome.organization_id, outcome.hold_id
    if outcome.status == "insufficient_balance":
        return conflict(
            "insufficient_balance",
            f"Organization {org} has {_amount(outcome.balance)} tokens available (held and "
            f"expired tokens excluded), fewer than the {_amount(asked)} asked for; nothing was "
            "held.",
            {"organization_id": org, "available": _amount(outcome.balance),
             "requested": _amount(asked)},
        )  # fmt: skip
    if outcome.status == "organization_not_found":
        return organization_not_found(org, ErrorKind.NOT_FOUND)
    if outcome.status == "organization_inactive":
        return organization_inactive(org)
    if outcome.status == "hold_not_found":
        return _hold_not_found(org, outcome.hold_id or 0)
    if outcome.status == "spend_limit_reached" and outcome.limit is not None:
        # As a refused spend says it; the capture asked for (all of the hold by default).
        return limit_reached(org, asked or outcome.amount or Decimal(0), outcome.limit)
    details = {"organization_id": org, "hold_id": hold, "status": outcome.hold_status}
    if outcome.status == "hold_not_active":
        return conflict(
            "hold_not_active",
            f"Hold {hold} is already {outcome.hold_status}; nothing was changed.",
            {**details, "captured_amount": _amount(outcome.captured_amount),
             "released_amount": _amount(outcome.released_amount)},
        )  # fmt: skip
    if outcome.status == "hold_expired":
        return conflict(
            "hold_expired",
            f"Hold {hold} expired at {outcome.expires_at}; its tokens are being released.",
            details,
        )
    if outcome.status == "capture_exceeds_hold":
        return invalid(
            "capture_exceeds_hold",
            f"Hold {hold} reserved {_amount(outcome.amount)} tokens, fewer than the "
            f"{_amount(asked)} asked to capture.",
            {**details, "held": _amount(outcome.amount), "requested": _amount(asked)},
        )
    return invalid(
        "idempotency_key_reused",
        f"This Idempotency-Key was already used for a different hold in organization {org}.",
        {"organization_id": org},
    )


async def on_pool(
    pool: SpendPool, work: Callable[[AsyncConnection[tuple[object, ...]]], Awaitable[T]]
) -> T:
    try:
        async with pool.connection() as conn:
            return await work(conn)
    except (OperationalError, PoolTimeout) as exc:
        raise unavailable(
            "database_unavailable", "The database is unavailable; retry in a moment."
        ) from exc


def _hold_not_found(organization_id: int, hold_id: int) -> ServiceError:
    return not_found(
        "hold_not_found",
        f"Organization {organization_id} has no hold {hold_id}.",
        {"organization_id": organization_id, "hold_id": hold_id},
    )


def _amount(value: Decimal | None) -> str:
    return "0" if value is None else plain_decimal(value)
