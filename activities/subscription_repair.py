"""The safety net's reading side: a page of subscriptions whose workflow should be running, as
runs.

The token_subscriptions row mirrors the workflow (anchor, cycle, status, package, method), so a
run rebuilt from it bills the same period under the same keys; the time rules come from settings.
The price is the one the subscription agreed (stored on the row), never the catalog's of the day.
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from db import subscriptions
from db.models import TokenPackage, TokenSubscription
from domain.durations import parse_interval, period_start
from domain.subscription_policy import subscription_policy
from tokenbill.settings import Settings
from workflows.job_types import JobCounts, WalletBatch
from workflows.subscription_activity_types import (
    LIST_SUBSCRIPTIONS_TO_REPAIR,
    RepairBatch,
    RepairCandidate,
)
from workflows.subscription_types import PackageTerms, SubscriptionRun

DURATION = TypeAdapter(timedelta)


class SubscriptionRepairActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.list_to_repair]

    @activity.defn(name=LIST_SUBSCRIPTIONS_TO_REPAIR)
    async def list_to_repair(self, batch: WalletBatch) -> RepairBatch:
        """The page of subscriptions after the cursor; the workflow starts or nudges them."""
        async with heartbeating(), self._session_maker() as session:
            rows = await subscriptions.repair_candidates(
                session, after_id=batch.after_wallet_id, limit=self._settings.job_batch_size
            )
        tax_rate = self._settings.token_invoice_tax_rate
        candidates = [
            RepairCandidate(
                run=self._run(row, package, next_package, tax_rate),
                status=row.status,
                next_billing_date=row.next_billing_date,
            )
            for row, package, next_package in rows
        ]
        return RepairBatch(
            counts=JobCounts(seen=len(candidates)),
            last_wallet_id=rows[-1][0].id if rows else None,
            candidates=candidates,
        )

    def _run(
        self,
        row: TokenSubscription,
        package: TokenPackage,
        next_package: TokenPackage | None,
        tax_rate: Decimal,
    ) -> SubscriptionRun:
        next_terms = None
        if next_package is not None:
            next_terms = _agreed_terms(
                next_package, row.next_token_quantity, row.next_price_per_token, row.next_currency
            )
        anchor = row.billing_anchor or row.next_billing_date or row.created_at
        status = row.status if row.status in ("past_due", "paused", "suspended") else "active"
        # The period being billed is the row's cycle (it moves on only once paid). Past due,
        # suspended, or paused after a declined charge, that period is still owed: the run goes
        # on with it (same keys, attempts and grace) instead of starting a new one.
        owing = status in ("past_due", "suspended") or (
            status == "paused" and row.dunning_attempt > 0
        )
        unpaid = None
        if owing:
            unpaid = period_start(anchor, parse_interval(row.billing_interval), row.billing_cycle)
        return SubscriptionRun(
            subscription_id=row.id,
            organization_id=row.organization_id,
            wallet_id=row.wallet_id,
            terms=_agreed_terms(package, row.token_quantity, row.price_per_token, row.currency),
            next_terms=next_terms,
            payment_method=row.payment_method,
            billing_interval=row.billing_interval,
            anchor=anchor,
            cycle=row.billing_cycle,
            tax_rate=tax_rate,
            policy=subscription_policy(self._settings, DURATION.validate_python(row.grace_period)),
            status=status,
            cancel_at_period_end=row.cancel_at_period_end,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            suspended_at=row.suspended_at if status == "suspended" else None,
            unpaid_period_start=unpaid,
            dunning_attempt=row.dunning_attempt if owing else 0,
            grace_period_ends_at=row.grace_period_ends_at if status == "past_due" else None,
            last_payment_error=row.last_payment_error if owing else None,
            actor_user_id=row.created_by_user_id,
        )


def _agreed_terms(
    package: TokenPackage, quantity: Decimal | None, price: Decimal | None, currency: str | None
) -> PackageTerms:
    """The terms stored on the row; the package's for a row written before terms were stored."""
    return PackageTerms(
        package_id=package.id,
        name=package.name,
        token_quantity=package.token_quantity if quantity is None else quantity,
        price_per_token=package.price_per_token if price is None else price,
        currency=package.currency if currency is None else currency,
    )
