"""Rows the suites' helpers write and read straight in the database: the one way each arranged
thing (a package, a purchase row, a credited wallet) is written, and the one reader of rows."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.models import TokenPackage, TokenPurchase
from workflows.purchase_types import purchase_workflow_id


async def rows(
    session_maker: async_sessionmaker[AsyncSession], sql: str, **params: Any
) -> list[Any]:
    async with session_maker() as session:
        return list((await session.execute(text(sql), params)).all())


async def insert_package(
    session_maker: async_sessionmaker[AsyncSession],
    name: str,
    *,
    tokens: Decimal,
    price: Decimal,
    currency: str,
    active: bool = True,
) -> int:
    """A token_packages row; its id."""
    async with session_maker() as session, session.begin():
        package_id = await session.scalar(
            insert(TokenPackage)
            .values(
                name=name,
                token_quantity=tokens,
                price_per_token=price,
                currency=currency,
                is_active=active,
            )
            .returning(TokenPackage.id)
        )
    assert package_id is not None
    return int(package_id)


async def insert_purchase_row(
    session: AsyncSession,
    reference: str,
    *,
    organization_id: int,
    wallet_id: int,
    package_id: int,
    kind: str,
    tokens: Decimal,
    price: Decimal,
    subtotal: Decimal,
    tax_rate: Decimal,
    tax: Decimal,
    total: Decimal,
    currency: str,
    payment_method: str,
    status: str,
    created_at: datetime | None = None,
    **columns: Any,
) -> None:
    """A token_purchases row under its business workflow id; `columns` adds others (invoice_id,
    completed_at...)."""
    if created_at is not None:
        columns["created_at"] = created_at
    await session.execute(
        insert(TokenPurchase).values(
            purchase_reference_id=reference,
            organization_id=organization_id,
            wallet_id=wallet_id,
            package_id=package_id,
            purchase_type=kind,
            token_quantity=tokens,
            price_per_token=price,
            subtotal_amount=subtotal,
            tax_rate=tax_rate,
            tax_amount=tax,
            total_amount=total,
            currency=currency,
            payment_method=payment_method,
            status=status,
            workflow_id=purchase_workflow_id(reference),
            **columns,
        )
    )


async def credit_wallet(
    session_maker: async_sessionmaker[AsyncSession],
    organization_id: int,
    tokens: str,
    *,
    expires_at: datetime | None = None,
) -> tuple[int, int]:
    """Credit the organization's wallet (made if missing) with a new lot under a key of its own;
    returns (wallet id, ledger transaction id)."""
    async with session_maker() as session, session.begin():
        wallet_id = await ledger.ensure_wallet(session, organization_id)
        posting = await ledger.credit(
            session,
            wallet_id=wallet_id,
            amount=Decimal(tokens),
            idempotency_key=f"test:{uuid.uuid4()}",
            expires_at=expires_at,
        )
    return wallet_id, posting.transaction_id
