"""The provider reconciliation: Stripe's balance transactions of a UTC day (charges, refunds)
against the charges and refunds our purchases record for it. A charge or refund on one side only,
or with another amount, is a mismatch, recorded in reconciliation_runs/_mismatches (finance is
notified, as the wallet reconciliation does); nothing is corrected here. The comparison is
db/provider_day.py's, shared with the scheduled job (reconcileProviderPayments)."""

from datetime import date
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from db.provider_day import (
    ProviderOperation,
    ProviderReconciliation,
    compare,
    day_bounds,
    operation_from,
    reconcile_operations,
)
from services.payments_provider.stripe_api import provider_unavailable, stripe_client
from tokenbill.settings import Settings

__all__ = ["ProviderOperation", "ProviderReconciliation", "compare", "reconcile_day"]
PAGE_SIZE = 100


async def provider_operations(settings: Settings, day: date) -> list[ProviderOperation]:
    """Every charge and refund balance transaction Stripe created in the day, all pages."""
    client = stripe_client(settings)
    start, end = day_bounds(day)
    params: dict[str, Any] = {
        "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
        "limit": PAGE_SIZE,
        "expand": ["data.source"],
    }
    found: list[ProviderOperation] = []
    try:
        while True:
            page = await client.v1.balance_transactions.list_async(params=params)  # type: ignore[arg-type]
            for txn in page.data:
                operation = operation_from(txn.to_dict())
                if operation is not None:
                    found.append(operation)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id
    except stripe.StripeError as exc:
        raise provider_unavailable(exc) from exc


async def reconcile_day(
    session: AsyncSession, settings: Settings, day: date, *, run_name: str | None = None
) -> ProviderReconciliation:
    """Fetch Stripe's day, compare it with the ledger's, record the run; the caller commits."""
    provider = await provider_operations(settings, day)
    return await reconcile_operations(session, provider, day, run_name=run_name)
