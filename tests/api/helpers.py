"""Helpers for the API tests: a client over the app, test users, row counts."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from tests.database_helpers import insert_purchase_row
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]
ALL_PERMISSIONS = ("tokens.view", "tokens.purchase", "tokens.configure")


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over create_app(settings), with the app's lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokenbill.test") as c:
            yield c


@dataclass(frozen=True)
class ApiUser:
    id: int
    organization_id: int | None
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


MakeUser = Callable[..., Awaitable[ApiUser]]
MakePackage = Callable[..., Awaitable[int]]


async def count_rows(session_maker: Maker, table: str, where: str = "true", **params: Any) -> int:
    async with session_maker() as session:
        value = await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)
    return int(value or 0)


async def denied_audit_rows(session_maker: Maker, request_id: str) -> int:
    return await count_rows(
        session_maker,
        "token_audit_logs",
        "request_id = :rid AND outcome = 'denied' AND action = 'access.denied'",
        rid=request_id,
    )


def new_request_id() -> str:
    return uuid.uuid4().hex


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


async def insert_invoiced_purchase(
    session_maker: Maker, organization_id: int, package_id: int
) -> tuple[str, str]:
    """A completed purchase with its paid invoice, written directly (no worker runs here)."""
    from db.ledger import ensure_wallet

    reference = "TKP-" + uuid.uuid4().hex[:20].upper()
    invoice_number = f"TST-{uuid.uuid4().hex[:12].upper()}"
    async with session_maker() as session, session.begin():
        wallet_id = await ensure_wallet(session, organization_id)
        invoice_id = await session.scalar(
            text(
                "INSERT INTO invoices (invoice_number, idempotency_key, organization_id, status,"
                " currency, subtotal, tax_rate, tax_amount, total, issue_date, due_date, paid_at,"
                " purchase_reference_id) VALUES (:n, :k, :o, 'paid', 'USD', 250.00, 0.16, 40.00,"
                " 290.00, DATE '2026-01-15', DATE '2026-02-14', now(), :r) RETURNING id"
            ),
            {"n": invoice_number, "k": f"test:{reference}", "o": organization_id, "r": reference},
        )
        await session.execute(
            text(
                "INSERT INTO invoice_lines (organization_id, invoice_id, description,"
                " package_id, token_quantity, unit_price, amount)"
                " VALUES (:o, :i, 'Test Pack x1', :p, 500, 0.50, 250.00)"
            ),
            {"o": organization_id, "i": invoice_id, "p": package_id},
        )
        await insert_purchase_row(
            session,
            reference,
            organization_id=organization_id,
            wallet_id=wallet_id,
            package_id=package_id,
            kind="one_time",
            tokens=Decimal(500),
            price=Decimal("0.50"),
            subtotal=Decimal("250.00"),
            tax_rate=Decimal("0.16"),
            tax=Decimal("40.00"),
            total=Decimal("290.00"),
            currency="USD",
            payment_method="pm_card_ok",
            status="completed",
            invoice_id=invoice_id,
            completed_at=func.now(),
        )
    return reference, invoice_number
