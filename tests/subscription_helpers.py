"""Arranging subscriptions the way the API does: the token_subscriptions row, then the workflow."""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db import ledger, subscriptions
from db.models import (
    Invoice,
    LedgerTransaction,
    OrganizationTokenWallet,
    PaymentGatewayOperation,
    TokenSubscription,
)
from tests.database_helpers import insert_package
from workflows.search_attributes import (
    ALL_SEARCH_ATTRIBUTES,
    NEXT_BILLING_DATE,
    ORGANIZATION_ID,
    SUBSCRIPTION_STATUS,
)
from workflows.subscription_types import (
    SUBSCRIPTION_WORKFLOW,
    PackageTerms,
    SubscriptionOutcome,
    SubscriptionPolicy,
    SubscriptionRun,
    subscription_workflow_id,
)

Maker = async_sessionmaker[AsyncSession]
TAX_RATE = Decimal("0.16")
POLICY = SubscriptionPolicy(
    grace_period=timedelta(days=7),
    reminder_lead=timedelta(days=3),
    dunning_schedule=[timedelta(days=1), timedelta(days=3), timedelta(days=5)],
    cancel_after_suspension=timedelta(days=30),
)


async def create_package(
    session_maker: Maker, tokens: str = "500", price: str = "0.50", name: str = "Pack"
) -> PackageTerms:
    package_name = f"{name} {uuid.uuid4().hex[:8]}"
    package_id = await insert_package(
        session_maker, package_name, tokens=Decimal(tokens), price=Decimal(price), currency="USD"
    )
    return PackageTerms(
        package_id=package_id, name=package_name, token_quantity=Decimal(tokens),
        price_per_token=Decimal(price), currency="USD",
    )  # fmt: skip


async def insert_subscription(
    session_maker: Maker,
    organization_id: int,
    terms: PackageTerms,
    *,
    anchor: datetime,
    payment_method: str = "pm_card_ok",
    interval: str = "P1M",
    policy: SubscriptionPolicy = POLICY,
) -> SubscriptionRun:
    """Write the token_subscriptions row and build the first run, as the API does."""
    async with session_maker() as session, session.begin():
        wallet_id = await ledger.ensure_wallet(session, organization_id)
        row = TokenSubscription(
            organization_id=organization_id, wallet_id=wallet_id, package_id=terms.package_id,
            status="active", payment_method=payment_method, billing_interval=interval,
            grace_period="P7D", next_billing_date=anchor, billing_anchor=anchor,
            token_quantity=terms.token_quantity, price_per_token=terms.price_per_token,
            currency=terms.currency,
        )  # fmt: skip
        subscription_id = await subscriptions.add(session, row)
        row.workflow_id = subscription_workflow_id(subscription_id)
    return SubscriptionRun(
        subscription_id=subscription_id, organization_id=organization_id,
        wallet_id=wallet_id, terms=terms, payment_method=payment_method,
        billing_interval=interval, anchor=anchor, tax_rate=TAX_RATE, policy=policy,
    )  # fmt: skip


async def start_subscription(
    client: Client, task_queue: str, run: SubscriptionRun
) -> WorkflowHandle[Any, SubscriptionOutcome]:
    return await client.start_workflow(
        SUBSCRIPTION_WORKFLOW,
        run,
        id=subscription_workflow_id(run.subscription_id),
        task_queue=task_queue,
        result_type=SubscriptionOutcome,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(run.organization_id)),
                SearchAttributePair(SUBSCRIPTION_STATUS, "active"),
                SearchAttributePair(NEXT_BILLING_DATE, run.anchor),
            ]
        ),
    )


async def selected(session_maker: Maker, query: Select[*tuple[Any, ...]]) -> list[Any]:
    async with session_maker() as session:
        return list((await session.execute(query)).all())


async def gateway_charges(session_maker: Maker, subscription_id: int) -> list[Any]:
    """The gateway's book for this subscription: one row per idempotency key, by construction."""
    op = PaymentGatewayOperation
    return await selected(
        session_maker,
        select(op.idempotency_key, op.status, op.amount, op.payment_method, op.attempts)
        .where(op.idempotency_key.like(f"subscription:{subscription_id}:%"))
        .order_by(op.id),
    )


async def invoices(session_maker: Maker, subscription_id: int) -> list[Any]:
    return await selected(
        session_maker,
        select(
            Invoice.invoice_number,
            Invoice.status,
            Invoice.subtotal,
            Invoice.tax_amount,
            Invoice.total,
            Invoice.issue_date,
            Invoice.due_date,
        )
        .where(Invoice.subscription_id == subscription_id)
        .order_by(Invoice.issue_date, Invoice.id),
    )


async def credits(session_maker: Maker, subscription_id: int) -> list[Any]:
    entry = LedgerTransaction
    return await selected(
        session_maker,
        select(entry.idempotency_key, entry.amount)
        .where(
            entry.idempotency_key.like(f"subscription:{subscription_id}:%"),
            entry.kind == "purchase",
        )
        .order_by(entry.id),
    )


async def subscription_row(session_maker: Maker, subscription_id: int) -> TokenSubscription:
    async with session_maker() as session:
        row = await session.get(TokenSubscription, subscription_id)
    assert row is not None
    return row


async def wallet_balance(session_maker: Maker, wallet_id: int) -> Decimal:
    async with session_maker() as session:
        balance = await session.scalar(
            select(OrganizationTokenWallet.current_balance).where(
                OrganizationTokenWallet.id == wallet_id
            )
        )
    assert balance is not None
    return Decimal(balance)


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server starts without custom search attributes: add tokenbill's."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    wanted = {key.name: key.indexed_value_type for key in ALL_SEARCH_ATTRIBUTES}
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={name: int(kind) for name, kind in wanted.items()},  # type: ignore[misc]
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
