"""Reading purchases back, with their invoice number, and waiting for one to settle."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.point_reads import purchase_read
from db.purchases import PurchaseRow, purchase_by_reference, purchase_page
from db.spend_pool import SpendPool
from services.errors import not_found
from services.read_pool import on_read_pool
from tokenbill.workflow_client import WorkflowClient

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "refunded"})


async def find_purchase(session: AsyncSession, reference: str) -> PurchaseRow:
    """The purchase as the database has it now; NOT_FOUND `purchase_not_found` when it is not."""
    purchase = await purchase_by_reference(session, reference)
    if purchase is None:
        raise not_found("purchase_not_found", f"Purchase {reference} does not exist.")
    return purchase


async def find_purchase_now(pool: SpendPool, reference: str) -> Any:
    """`find_purchase` as one prepared statement on the read pool (GET purchase)."""
    purchase = await on_read_pool(pool, lambda conn: purchase_read(conn, reference))
    if purchase is None:
        raise not_found("purchase_not_found", f"Purchase {reference} does not exist.")
    return purchase


async def settled_purchase_now(
    pool: SpendPool, workflows: WorkflowClient, purchase: Any, seconds: float
) -> Any:
    """The purchase once its workflow has finished, waiting at most `seconds`; as it then is
    when the time is up (no connection is held while waiting)."""
    if seconds <= 0 or purchase.status in TERMINAL_STATUSES:
        return purchase
    await workflows.wait_for_close(purchase.workflow_id, seconds)
    reference = purchase.purchase_reference_id
    return await on_read_pool(pool, lambda conn: purchase_read(conn, reference)) or purchase


async def list_purchases(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    offset: int,
    purchase_type: str | None = None,
) -> tuple[list[PurchaseRow], int]:
    """A page of purchases (newest first) and how many match: of one organization or, for an
    admin asking for none, of all; of one type (one_time, subscription, auto_topup) when asked."""
    return await purchase_page(
        session, organization_id=organization_id, status=status, created_from=created_from,
        created_to=created_to, limit=limit, offset=offset, purchase_type=purchase_type,
    )  # fmt: skip
