"""Spending tokens: one call of the `ledger_spend_limited` database function per spend, or one
call of `ledger_spend_batch_limited` per batch (migration 0020: they judge the organization's
spend limits and call `ledger_spend` / `ledger_spend_batch`), on a plain psycopg connection.

This is the hottest path of the system, so it skips the ORM. The connection is in autocommit
mode: the one statement is the whole transaction (the deferred balance check runs at its end),
so a spend is one round trip. A refused spend (insufficient balance, unknown or deactivated
organization, a reused key) is an outcome, not an exception, and leaves nothing written.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, cast

from psycopg import AsyncConnection

SpendStatus = Literal[
    "applied", "replayed", "insufficient_balance", "organization_not_found",
    "organization_inactive", "idempotency_key_reused", "spend_limit_reached",
]  # fmt: skip
SUCCEEDED: frozenset[str] = frozenset({"applied", "replayed"})


@dataclass(frozen=True)
class SpendRequest:
    organization_id: int
    amount: Decimal
    idempotency_key: str
    reason: str
    reference: str | None = None
    api_key_id: int | None = None
    """The API key that spends (its limits apply as well as the organization's); None for a user."""

    @property
    def ledger_key(self) -> str:
        """The ledger's own idempotency key: a caller's key is unique within an organization."""
        return consume_ledger_key(self.organization_id, self.idempotency_key)


@dataclass(frozen=True)
class AlertDefaults:
    """Thresholds for wallets that set none, and whether auto top-up triggers are recorded."""

    low: Decimal
    critical: Decimal
    auto_topup: bool


@dataclass(frozen=True)
class SpendContext:
    """Who spends and from where, for the audit row each applied spend writes."""

    actor_type: str
    actor_id: str | None
    ip_address: str | None = None
    request_id: str | None = None

    def parameters(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.actor_type, self.actor_id, self.ip_address, self.request_id)


@dataclass(frozen=True)
class LimitReached:
    """The hard spend limit a refused spend would have crossed, and when its period ends."""

    limit_id: int
    scope: str
    api_key_id: int | None
    period: str
    cap: Decimal
    used: Decimal
    resets_at: datetime


@dataclass(frozen=True)
class SpendOutcome:
    """What became of one spend: on success the transaction and the balance after it; when
    refused for balance, the balance now. `events` counts the outbox rows it recorded."""

    status: SpendStatus
    organization_id: int
    amount: Decimal
    transaction_id: int | None
    wallet_id: int | None
    balance: Decimal | None
    created_at: datetime | None
    events: int
    limit: LimitReached | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED


def consume_ledger_key(organization_id: int, idempotency_key: str) -> str:
    return f"consume:{organization_id}:{idempotency_key}"


_LIMIT_COLUMNS = (
    "limit_id, limit_scope, limit_api_key_id, limit_period, limit_cap, limit_used, limit_resets_at"
)
SPEND_SQL = (
    "SELECT status, transaction_id, wallet_id, amount, balance, created_at, events, "
    f"{_LIMIT_COLUMNS} FROM ledger_spend_limited("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::integer, %s::timestamptz)"
)
SPEND_BATCH_SQL = (
    "SELECT item, status, transaction_id, wallet_id, amount, balance, created_at, events, "
    f"{_LIMIT_COLUMNS} FROM ledger_spend_batch_limited("
    "%s, %s, %s::numeric[], %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::integer[], %s::timestamptz)"
)
# The same run with each spend's audit context as its first parameter (migration 0028): one
# statement where SPEND_BATCH_SQL needs the setting `tokenbill.spend_contexts` set before it.
SPEND_BATCH_IN_CONTEXT_SQL = (
    "SELECT item, status, transaction_id, wallet_id, amount, balance, created_at, events, "
    f"{_LIMIT_COLUMNS} FROM ledger_spend_batch_in_context(%s, "
    "%s, %s, %s::numeric[], %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::integer[], %s::timestamptz)"
)


async def spend(
    conn: AsyncConnection[tuple[object, ...]],
    request: SpendRequest,
    defaults: AlertDefaults,
    context: SpendContext,
    at: datetime | None = None,
) -> SpendOutcome:
    """Apply one spend as one statement on an autocommit connection. `at` places the spend in
    its spend limits' periods (None: the transaction's time; tests choose anchors)."""
    parameters = (
        request.ledger_key, request.organization_id, request.amount, request.reason,
        request.reference, defaults.low, defaults.critical, defaults.auto_topup,
        *context.parameters(), request.api_key_id, at,
    )  # fmt: skip
    cursor = await conn.execute(SPEND_SQL, parameters, prepare=True)
    row = await cursor.fetchone()
    assert row is not None, "ledger_spend answers one row"
    return _outcome(request.organization_id, row)


async def spend_batch(
    conn: AsyncConnection[tuple[object, ...]],
    requests: list[SpendRequest],
    defaults: AlertDefaults,
    context: SpendContext,
    at: datetime | None = None,
) -> list[SpendOutcome]:
    """Apply many spends in one statement (one transaction) on an autocommit connection; the
    outcomes come back in the order of the requests."""
    if not requests:
        return []
    parameters = batch_parameters(requests, defaults, context, at)
    cursor = await conn.execute(SPEND_BATCH_SQL, parameters, prepare=True)
    return batch_outcomes(requests, await cursor.fetchall())


def batch_parameters(
    requests: list[SpendRequest],
    defaults: AlertDefaults,
    context: SpendContext,
    at: datetime | None = None,
) -> tuple[object, ...]:
    """The parameters of SPEND_BATCH_SQL for these requests."""
    return (
        [r.ledger_key for r in requests], [r.organization_id for r in requests],
        [r.amount for r in requests], [r.reason for r in requests],
        [r.reference for r in requests], defaults.low, defaults.critical, defaults.auto_topup,
        *context.parameters(), [r.api_key_id for r in requests], at,
    )  # fmt: skip


def batch_outcomes(
    requests: list[SpendRequest], rows: list[tuple[object, ...]]
) -> list[SpendOutcome]:
    """SPEND_BATCH_SQL's rows as the outcomes of the requests, in their order."""
    outcomes: list[SpendOutcome | None] = [None] * len(requests)
    for row in rows:
        index = cast(int, row[0]) - 1
        outcomes[index] = _outcome(requests[index].organization_id, row[1:])
    assert all(o is not None for o in outcomes), "ledger_spend_batch answers every item"
    return [o for o in outcomes if o is not None]


def _outcome(organization_id: int, row: tuple[object, ...]) -> SpendOutcome:
    status, transaction_id, wallet_id, amount, balance, created_at, events = row[:7]
    return SpendOutcome(
        status=cast(SpendStatus, status),
        organization_id=organization_id,
        amount=cast(Decimal, amount),
        transaction_id=cast(int | None, transaction_id),
        wallet_id=cast(int | None, wallet_id),
        balance=cast(Decimal | None, balance),
        created_at=cast(datetime | None, created_at),
        events=cast(int, events),
        limit=limit_of(row[7:]),
    )


def limit_of(row: tuple[object, ...]) -> LimitReached | None:
    limit_id, scope, api_key_id, period, cap, used, resets_at = row
    if limit_id is None:
        return None
    return LimitReached(
        limit_id=cast(int, limit_id), scope=cast(str, scope),
        api_key_id=cast(int | None, api_key_id), period=cast(str, period),
        cap=cast(Decimal, cap), used=cast(Decimal, used), resets_at=cast(datetime, resets_at),
    )  # fmt: skip
