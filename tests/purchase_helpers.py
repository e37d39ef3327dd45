"""Arranging purchases the way the API does: a pending token_purchases row, then the workflow."""

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db import ledger
from domain.pricing import price_tokens
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
    async with session_maker() as session, session.begin():
        found = await session.scalar(
            text(
                "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
                "VALUES (:n, 500, :p, 'USD') RETURNING id"
            ),
            {"n": f"Business Pack {uuid.uuid4().hex[:8]}", "p": UNIT_PRICE},
        )
    assert found is not None
    return int(found)


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
        await session.execute(
            text(
                "INSERT INTO token_purchases (purchase_reference_id, organization_id, wallet_id, "
                "package_id, purchase_type, token_quantity, price_per_token, subtotal_amount, "
                "tax_rate, tax_amount, total_amount, currency, payment_method, status, "
                "workflow_id) VALUES (:ref, :org, :wallet, :package, 'one_time', :q, :unit, "
                ":subtotal, :rate, :tax, :total, 'USD', :pm, 'pending', :wf)"
            ),
            {
                "ref": reference, "org": organization_id, "wallet": wallet_id,
                "package": package_id, "q": quantity, "unit": UNIT_PRICE,
                "subtotal": price.subtotal, "rate": TAX_RATE, "tax": price.tax,
                "total": price.total, "pm": payment_method,
                "wf": purchase_workflow_id(reference),
            },
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
