"""Prepared finance data written straight to the database: purchases, subscriptions, invoices.

Finance figures are global, so the finance tests use the ISO 4217 test currency XTS, which no
other test uses, and read the XTS rows only.
"""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from db.audit import Actor
from db.ledger import ensure_wallet
from tests.database_helpers import insert_package, insert_purchase_row

Maker = async_sessionmaker[AsyncSession]
TEST_CURRENCY = "XTS"
TAX_RATE = Decimal("0.16")


async def make_package(session_maker: Maker, tokens: str, price: str) -> int:
    name = f"Finance Pack {uuid.uuid4().hex[:10]}"
    return await insert_package(
        session_maker, name, tokens=Decimal(tokens), price=Decimal(price), currency=TEST_CURRENCY
    )


async def insert_purchase(
    session_maker: Maker,
    *,
    organization_id: int,
    package_id: int,
    tokens: str,
    price: str,
    kind: str,
    status: str,
    created_at: datetime,
) -> str:
    """A purchase row as the workflow leaves it, with exact subtotal, tax and total."""
    subtotal = (Decimal(tokens) * Decimal(price)).quantize(Decimal("0.01"))
    tax = (subtotal * TAX_RATE).quantize(Decimal("0.01"))
    reference = "TKP-" + uuid.uuid4().hex[:20].upper()
    async with session_maker() as session, session.begin():
        wallet_id = await ensure_wallet(session, organization_id)
        await insert_purchase_row(
            session, reference, organization_id=organization_id, wallet_id=wallet_id,
            package_id=package_id, kind=kind, tokens=Decimal(tokens), price=Decimal(price),
            subtotal=subtotal, tax_rate=TAX_RATE, tax=tax, total=subtotal + tax,
            currency=TEST_CURRENCY, payment_method="pm_card_ok", status=status,
            created_at=created_at,
        )  # fmt: skip
    return reference


async def insert_subscription(
    session_maker: Maker, *, organization_id: int, package_id: int, interval: str, status: str
) -> int:
    async with session_maker() as session, session.begin():
        wallet_id = await ensure_wallet(session, organization_id)
        subscription_id = await session.scalar(
            text(
                "INSERT INTO token_subscriptions (organization_id, wallet_id, package_id, status, "
                "payment_method, billing_interval, token_quantity, price_per_token, currency) "
                "SELECT :o, :w, id, :s, 'pm_card_ok', :i, token_quantity, price_per_token, "
                "currency FROM token_packages WHERE id = :p RETURNING id"
            ),
            {"o": organization_id, "w": wallet_id, "p": package_id, "s": status, "i": interval},
        )
    assert subscription_id is not None
    return int(subscription_id)


async def insert_invoice(
    session_maker: Maker,
    *,
    organization_id: int,
    total: str,
    status: str,
    issue_date: str = "2026-01-15",
    subscription_id: int | None = None,
    description: str = "Finance Pack x1",
    currency: str = TEST_CURRENCY,
) -> str:
    """An invoice of one line whose subtotal is the total (no tax), numbered uniquely."""
    number = f"TST-{uuid.uuid4().hex[:12].upper()}"
    async with session_maker() as session, session.begin():
        invoice_id = await session.scalar(
            text(
                "INSERT INTO invoices (invoice_number, idempotency_key, organization_id, status, "
                "currency, subtotal, tax_rate, tax_amount, total, issue_date, due_date, "
                "subscription_id) VALUES (:n, :k, :o, :s, :c, :t, 0, 0, :t, CAST(:d AS date), "
                "CAST(:d AS date) + 30, :sub) RETURNING id"
            ),
            {
                "n": number, "k": f"test:{number}", "o": organization_id, "s": status,
                "c": currency, "t": Decimal(total), "d": issue_date, "sub": subscription_id,
            },
        )  # fmt: skip
        await session.execute(
            text(
                "INSERT INTO invoice_lines (organization_id, invoice_id, description,"
                " token_quantity, unit_price, amount) VALUES (:o, :i, :d, 1, :t, :t)"
            ),
            {"o": organization_id, "i": invoice_id, "d": description, "t": Decimal(total)},
        )
    return number


async def make_finance_user(session_maker: Maker) -> int:
    """A finance staff member: user type finance, tokens.view, no organization."""
    async with session_maker() as session, session.begin():
        user = await directory.create_user(
            session,
            email=f"finance-{uuid.uuid4().hex[:10]}@api.test",
            user_type="finance",
            permissions=("tokens.view",),
            actor=Actor.system("tests"),
        )
    return user.id
