"""Spending tokens, one spend or a batch: one `ledger_spend_limited` statement on the spend pool
is the whole transaction (spend limits judged and counted in it), and a spend that recorded
events nudges the outbox relay.

The hot path: nothing here adds a query or a round trip; a refused spend becomes a ServiceError
(or, in a batch, an item's error) without touching the database again.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC
from decimal import Decimal
from typing import Protocol, TypeVar

from psycopg import AsyncConnection, OperationalError
from psycopg_pool import PoolTimeout

from db.spend_pool import SpendPool
from db.spending import (
    AlertDefaults,
    LimitReached,
    SpendContext,
    SpendOutcome,
    SpendRequest,
    spend,
    spend_batch,
)
from domain.amounts import plain_decimal
from services.errors import (
    ErrorKind,
    ServiceError,
    conflict,
    invalid,
    organization_inactive,
    organization_not_found,
    unavailable,
)
from services.wallet.coalescer import LedgerCoalescer

T = TypeVar("T")


class RelayWaker(Protocol):
    def nudge(self) -> None:
        """Ask for the outbox relay to be woken; returns at once."""


class SpendLine(Protocol):
    """What the spend path holds for the process's lifetime."""

    @property
    def pool(self) -> SpendPool: ...
    @property
    def defaults(self) -> AlertDefaults: ...
    @property
    def relay(self) -> RelayWaker: ...
    @property
    def coalescer(self) -> LedgerCoalescer | None:
        """Single spends, new holds, captures and releases go through it when set
        (SPEND_COALESCE_WINDOW above 0)."""


async def spend_once(line: SpendLine, wanted: SpendRequest, context: SpendContext) -> SpendOutcome:
    """Apply one spend (or replay it); a refusal raises its ServiceError, nothing written.
    With a coalescer the spend shares its transaction with those that arrive beside it."""
    coalescer = line.coalescer
    if coalescer is not None:
        outcome = await unavailable_when_down(coalescer.spend(wanted, context))
    else:
        outcome = await _on_pool(line, lambda conn: spend(conn, wanted, line.defaults, context))
    if outcome.events:
        line.relay.nudge()
    if not outcome.succeeded:
        raise refusal(outcome)
    return outcome


async def spend_many(
    line: SpendLine, wanted: list[SpendRequest], context: SpendContext
) -> list[SpendOutcome]:
    """Apply a batch in one transaction; the outcomes in the order asked (see `refusal`)."""
    outcomes = await _on_pool(line, lambda conn: spend_batch(conn, wanted, line.defaults, context))
    if any(o.events for o in outcomes):
        line.relay.nudge()
    return outcomes


async def _on_pool(
    line: SpendLine, work: Callable[[AsyncConnection[tuple[object, ...]]], Awaitable[T]]
) -> T:
    async def on_a_connection() -> T:
        async with line.pool.connection() as conn:
            return await work(conn)

    return await unavailable_when_down(on_a_connection())


async def unavailable_when_down(work: Awaitable[T]) -> T:
    """The work's result; 503 database_unavailable when the database cannot be reached."""
    try:
        return await work
    except (OperationalError, PoolTimeout) as exc:
        raise unavailable(
            "database_unavailable", "The database is unavailable; retry in a moment."
        ) from exc


def refusal(outcome: SpendOutcome) -> ServiceError:
    """Why a spend was refused."""
    org = outcome.organization_id
    if outcome.status == "insufficient_balance":
        return conflict(
            "insufficient_balance",
            f"Organization {org} can spend {_amount(outcome.balance)} tokens (expired tokens "
            f"excluded), fewer than the {_amount(outcome.amount)} asked for; nothing was spent.",
            {"organization_id": org, "balance": _amount(outcome.balance),
             "requested": _amount(outcome.amount)},
        )  # fmt: skip
    if outcome.status == "organization_not_found":
        return organization_not_found(org, ErrorKind.NOT_FOUND)
    if outcome.status == "organization_inactive":
        return organization_inactive(org)
    if outcome.status == "spend_limit_reached" and outcome.limit is not None:
        return limit_reached(org, outcome.amount, outcome.limit)
    return invalid(
        "idempotency_key_reused",
        f"This Idempotency-Key was already used for a different spend in organization {org}.",
        {"organization_id": org},
    )


_PERIODICAL = {"day": "daily", "month": "monthly"}


def limit_reached(org: int, amount: Decimal, limit: LimitReached) -> ServiceError:
    """409 spend_limit_reached: which limit, its cap and use, and when its period ends."""
    subject = (
        f"organization {org}" if limit.api_key_id is None
        else f"API key {limit.api_key_id} in organization {org}"
    )  # fmt: skip
    resets = limit.resets_at.astimezone(UTC).isoformat()
    return conflict(
        "spend_limit_reached",
        f"The {_PERIODICAL[limit.period]} hard spend limit of {subject} is "
        f"{_amount(limit.cap)} tokens and {_amount(limit.used)} are spent this {limit.period} "
        f"(UTC); the {_amount(amount)} asked for would cross it, so nothing was spent. The limit "
        f"resets at {resets}.",
        {"organization_id": org, "limit_id": limit.limit_id, "scope": limit.scope,
         "api_key_id": limit.api_key_id, "period": limit.period, "cap": _amount(limit.cap),
         "used": _amount(limit.used), "requested": _amount(amount), "resets_at": resets},
    )  # fmt: skip


def _amount(value: Decimal | None) -> str:
    """An amount as the API writes amounts ('12.5'); none is '0'."""
    return "0" if value is None else plain_decimal(value)
