"""reconcileProviderPayments' step: fetch Stripe's balance transactions of the day (every page,
`source` expanded) and record the comparison with the ledger's (db/provider_day.py, the same as
the API's and `tokenbill stripe reconcile`'s). Refused, without retry, unless
PAYMENT_GATEWAY=stripe with a secret key."""

from collections.abc import Callable
from datetime import date
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from db.provider_day import ProviderOperation, day_bounds, operation_from, reconcile_operations
from tokenbill.settings import Settings
from workflows.provider_reconciliation_types import (
    RECONCILE_PROVIDER_DAY,
    ProviderDay,
    ProviderDayOutcome,
)

PAGE_SIZE = 100
REQUEST_TIMEOUT_SECONDS = 30.0


class ProviderReconciliationActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.reconcile_provider_day]

    def _client(self) -> stripe.StripeClient:
        settings = self._settings
        key = settings.stripe_secret_key.get_secret_value()
        if settings.payment_gateway != "stripe" or not key:
            raise ApplicationError(
                "PAYMENT_GATEWAY is not stripe: no provider to reconcile with",
                type="ProviderNotConfigured", non_retryable=True,
            )  # fmt: skip
        return stripe.StripeClient(
            key, base_addresses={"api": settings.stripe_api_base},
            http_client=stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS),
            max_network_retries=0,  # Temporal retries the activity
        )  # fmt: skip

    async def _operations(self, day: date) -> list[ProviderOperation]:
        client = self._client()
        start, end = day_bounds(day)
        params: dict[str, Any] = {
            "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
            "limit": PAGE_SIZE, "expand": ["data.source"],
        }  # fmt: skip
        found: list[ProviderOperation] = []
        while True:
            page = await client.v1.balance_transactions.list_async(params=params)  # type: ignore[arg-type]
            found.extend(op for t in page.data if (op := operation_from(t.to_dict())) is not None)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    @activity.defn(name=RECONCILE_PROVIDER_DAY)
    async def reconcile_provider_day(self, request: ProviderDay) -> ProviderDayOutcome:
        day = date.fromisoformat(request.day)
        async with heartbeating():
            provider = await self._operations(day)
        async with self._session_maker() as session, session.begin():
            done = await reconcile_operations(
                session, provider, day, run_name=f"{request.workflow_id}-{day.isoformat()}"
            )
        return ProviderDayOutcome(
            run_id=done.run_id, provider_transactions=done.provider_transactions,
            ledger_operations=done.ledger_operations, mismatches=len(done.mismatches),
        )  # fmt: skip
