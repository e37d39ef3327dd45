"""Where the money checks read the processor's records: the sandbox's table, or what Stripe (the
stand-in) lists through its API, presented to the same SQL as rows of the same shape."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import stripe

from activities.payments.minor_units import from_minor_units

SANDBOX_TABLE = "payment_gateway_operations"
PROVIDER_ROWS = (
    "(SELECT * FROM unnest(CAST(:book_keys AS text[]), CAST(:book_operations AS text[]), "
    "CAST(:book_statuses AS text[]), CAST(:book_amounts AS numeric[]), "
    "CAST(:book_attempts AS int[])) AS u(idempotency_key, operation, status, amount, attempts))"
)


@dataclass(frozen=True)
class ProviderRecord:
    """A PaymentIntent (operation charge) or a Refund at the provider, under tokenbill's key."""

    key: str
    operation: str
    status: str
    amount: Decimal
    organization_id: int | None
    provider_id: str


@dataclass(frozen=True)
class GatewayBook:
    """The processor's records for SQL: `{book}` in a query stands for them (give it an alias)."""

    records: list[ProviderRecord] | None = None  # None: the sandbox's own table
    looked_at: str = field(default="the sandbox's table")

    def sql(self, template: str) -> str:
        return template.replace("{book}", SANDBOX_TABLE if self.records is None else PROVIDER_ROWS)

    def params(self) -> dict[str, Any]:
        if self.records is None:
            return {}
        return {
            "book_keys": [r.key for r in self.records],
            "book_operations": [r.operation for r in self.records],
            "book_statuses": [r.status for r in self.records],
            "book_amounts": [r.amount for r in self.records],
            "book_attempts": [1 for _ in self.records],
        }


SANDBOX_BOOK = GatewayBook()


async def _all(lister: Any) -> list[Any]:
    """Every object of a Stripe list, page by page (newest first)."""
    found: list[Any] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if after is not None:
            params["starting_after"] = after
        page = await lister(params=params)
        found.extend(page.data)
        if not page.has_more or not page.data:
            return found
        after = page.data[-1].id


def _metadata(resource: Any) -> dict[str, str]:
    metadata = resource.metadata
    return dict(metadata.to_dict()) if metadata is not None else {}


async def stripe_book(api_base: str, secret_key: str) -> GatewayBook:
    """Every PaymentIntent and Refund the account holds that tokenbill made (its key in the
    metadata), read through Stripe's list endpoints."""
    client = stripe.StripeClient(
        secret_key, base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(timeout=60), max_network_retries=3,
    )  # fmt: skip
    intents = await _all(client.v1.payment_intents.list_async)
    refunds = await _all(client.v1.refunds.list_async)
    records: list[ProviderRecord] = []
    organization_of: dict[str, int | None] = {}
    for intent in intents:
        metadata = _metadata(intent)
        org = metadata.get("organization_id")
        organization_of[intent.id] = int(org) if org else None
        if "tokenbill_key" not in metadata:
            continue
        records.append(
            ProviderRecord(
                key=metadata["tokenbill_key"], operation="charge",
                status="succeeded" if intent.status == "succeeded" else "declined",
                amount=from_minor_units(intent.amount, intent.currency),
                organization_id=organization_of[intent.id], provider_id=intent.id,
            )
        )  # fmt: skip
    for refund in refunds:
        metadata = _metadata(refund)
        if "tokenbill_key" not in metadata:
            continue
        records.append(
            ProviderRecord(
                key=metadata["tokenbill_key"], operation="refund", status=refund.status or "",
                amount=from_minor_units(refund.amount, refund.currency),
                organization_id=organization_of.get(str(refund.payment_intent)),
                provider_id=refund.id,
            )
        )  # fmt: skip
    return GatewayBook(
        records, f"{len(intents)} PaymentIntents and {len(refunds)} Refunds listed by Stripe"
    )
