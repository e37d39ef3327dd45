"""Arranging purchases the way the API does: a pending token_purchases row, then the workflow."""

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db import ledger
from domain.pricing import price_tokens
from tests.database_helpers import insert_package, insert_purchase_row
from workflows.purchase_types import (
    PURCHASE_WORKFLOW,
    PurchaseInput,
    PurchaseResult,
    purchase_workflow_id,
)
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE

Maker = async_sessionmaker[AsyncSession]
TAX_RATE = Decimal("0.16")
UNIT_PRICE = Decimal("0.50")


async def create_package(session_maker: Maker) -> int:
    """A 500-token package of its own, priced like the Business Pack."""
    name = f"Business Pack {uuid.uuid4().hex[:8]}"
    return await insert_package(
        session_maker, name, tokens=Decimal(500), price=UNIT_PRICE, currency="USD"
    )


async def insert_purchase(
    session_maker: Maker,
    organization_id: int,
    package_id: int,
    payment_method: str = "pm_card_ok",
    tokens: str = "500",
) -> PurchaseInput:
    """Write the pending token_purchases row and build the workflow input, as the API will."""
    quantity = Decimal(tokens)
    price = price_tokens(quantity, UNIT_PRICE, TAX_RATE)
    reference = f"test-{uuid.uuid4().hex[:20]}"
    async with session_maker() as session, session.begin():
        wallet_id = await ledger.ensure_wallet(session, organization_id)
        await insert_purchase_row(
            session, reference, organization_id=organization_id, wallet_id=wallet_id,
            package_id=package_id, kind="one_time", tokens=quantity, price=UNIT_PRICE,
            subtotal=price.subtotal, tax_rate=TAX_RATE, tax=price.tax, total=price.total,
            currency="USD", payment_method=payment_method, status="pending",
        )  # fmt: skip
    return PurchaseInput(
        purchase_reference_id=reference,
        organization_id=organization_id,
        wallet_id=wallet_id,
        package_id=package_id,
        token_quantity=quantity,
        price_per_token=UNIT_PRICE,
        subtotal_amount=price.subtotal,
        tax_rate=TAX_RATE,
        tax_amount=price.tax,
        total_amount=price.total,
        currency="USD",
        payment_method=payment_method,
        description=f"{tokens} tokens",
    )


async def run_purchase(
    client: Client, task_queue: str, purchase: PurchaseInput, workflow_id: str | None = None
) -> PurchaseResult:
    result: PurchaseResult = await client.execute_workflow(
        PURCHASE_WORKFLOW,
        purchase,
        id=workflow_id or purchase_workflow_id(purchase.purchase_reference_id),
        task_queue=task_queue,
        result_type=PurchaseResult,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(purchase.organization_id)),
                SearchAttributePair(PURCHASE_REFERENCE, purchase.purchase_reference_id),
            ]
        ),
        execution_timeout=timedelta(minutes=2),
    )
    return result
