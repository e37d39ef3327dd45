"""The stand-in's state: Stripe objects by kind, idempotent answers, event listeners."""

import asyncio
import copy
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

StripeObject = dict[str, Any]
EventListener = Callable[[str, StripeObject], Awaitable[None]]


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given under an idempotency key, and what it was an answer to."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


@dataclass
class StandinStore:
    """Everything the stand-in knows, in memory; one lock serialises the writing handlers."""

    api_key: str
    _objects: dict[str, dict[str, StripeObject]] = field(default_factory=dict)
    answers: dict[str, StoredAnswer] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    event_listeners: list[EventListener] = field(default_factory=list)
    pending_events: list[tuple[str, StripeObject]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def objects(self, kind: str) -> dict[str, StripeObject]:
        """The objects of one kind ("customer", "payment_intent", "charge", "refund", ...) by id."""
        return self._objects.setdefault(kind, {})

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    @staticmethod
    def now() -> int:
        return int(time.time())

    async def emit(self, event_type: str, obj: StripeObject) -> None:
        """Note that `obj` changed as `event_type` says; the listeners hear it once the handler
        has let go of the lock (flush_events), with a copy of the object as it was then."""
        self.pending_events.append((event_type, copy.deepcopy(obj)))

    async def flush_events(self) -> None:
        """Tell the listeners (events, webhooks) what the last handler did, outside the lock, so
        a listener may call the stand-in's API (and wait for tokenbill's webhook answer)."""
        events, self.pending_events = self.pending_events, []
        for event_type, obj in events:
            for listener in list(self.event_listeners):
                await listener(event_type, obj)

    def add_balance_transaction(
        self, *, type_: str, amount: int, currency: str, source: str
    ) -> str:
        """The money movement a charge or refund makes in the account's balance (no fees)."""
        txn_id = self.new_id("txn")
        self.objects("balance_transaction")[txn_id] = {
            "id": txn_id, "object": "balance_transaction", "amount": amount,
            "currency": currency, "fee": 0, "fee_details": [], "net": amount,
            "created": self.now(), "available_on": self.now(), "type": type_,
            "reporting_category": type_, "source": source, "status": "available",
            "description": None,
        }  # fmt: skip
        return txn_id
