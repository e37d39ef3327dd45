"""The purchase history (`/tokens/history`, PurchaseHistoryPage in the original): filters by
status, type and dates (UTC days), pages, a CSV export of what the filters match; each row opens
its invoice and, for admins, its workflow in the Temporal Web UI (TEMPORAL_UI_URL)."""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from db.directory import VIEW
from db.purchases import PurchaseRow
from services.purchases.queries import list_purchases
from web.auth import refuse, require
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession
from web.templates import money, render, tokens, utc

router = APIRouter()
MAX_ROW_ID = 2**31 - 1
PAGE_SIZE = 20
EXPORT_BATCH = 500
STATUSES: tuple[str, ...] = ("pending", "processing", "completed", "failed", "refunded")
KINDS: tuple[str, ...] = ("one_time", "subscription", "auto_topup")
CSV_COLUMNS = (
    "purchase_reference_id", "organization_id", "purchase_type", "status", "token_quantity",
    "subtotal_amount", "tax_amount", "total_amount", "currency", "payment_method",
    "invoice_number", "created_at", "completed_at", "failure_reason",
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """What the history shows: an organization (an admin may leave it open), status, type and
    the UTC days the purchases were made in (both ends included)."""

    organization_id: int | None
    status: str | None
    purchase_type: str | None
    created_from: date | None
    created_to: date | None

    def query(self, **extra: int) -> str:
        values = {
            "organization_id": self.organization_id, "status": self.status,
            "type": self.purchase_type, "from": self.created_from, "to": self.created_to, **extra,
        }  # fmt: skip
        return urlencode({key: value for key, value in values.items() if value is not None})

    def start(self) -> datetime | None:
        if self.created_from is None:
            return None
        return datetime.combine(self.created_from, time.min, UTC)

    def end(self) -> datetime | None:
        if self.created_to is None:
            return None
        return datetime.combine(self.created_to + timedelta(days=1), time.min, UTC)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


async def filters(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, require(VIEW)],
    organization_id: Annotated[str, Query(max_length=12)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    purchase_type: Annotated[str, Query(alias="type", max_length=16)] = "",
    created_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    created_to: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Filters:
    """The filters asked for (a field the form left empty, or a value it cannot send, filters
    nothing) and the organization a user may see (its own; an admin's choice)."""
    chosen = int(organization_id) if organization_id.isdigit() else None
    if chosen is not None and not 1 <= chosen <= MAX_ROW_ID:
        chosen = None
    if chosen is not None and not user.sees_organization(chosen):
        raise await refuse(
            request, session, context, user, "You may only see your own organization's purchases.",
            organization_id=chosen,
        )  # fmt: skip
    if chosen is None and not user.is_admin:
        if user.user.organization_id is None:
            raise await refuse(
                request, session, context, user, "Your user belongs to no organization.",
                organization_id=None,
            )  # fmt: skip
        chosen = user.user.organization_id
    return Filters(
        chosen,
        status if status in STATUSES else None,
        purchase_type if purchase_type in KINDS else None,
        _day(created_from),
        _day(created_to),
    )


Chosen = Annotated[Filters, Depends(filters)]


def workflow_link(settings: ConsoleSettings, workflow_id: str) -> str | None:
    if settings.temporal_ui_url is None:
        return None
    base = settings.temporal_ui_url.rstrip("/")
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


async def _page(
    session: DbSession, chosen: Filters, limit: int, offset: int
) -> tuple[list[PurchaseRow], int]:
    return await list_purchases(
        session, organization_id=chosen.organization_id, status=chosen.status,
        created_from=chosen.start(), created_to=chosen.end(), limit=limit, offset=offset,
        purchase_type=chosen.purchase_type,
    )  # fmt: skip


@router.get("/tokens/history")
async def history_page(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    user: Annotated[ConsoleUser, require(VIEW)],
    chosen: Chosen,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    rows, total = await _page(session, chosen, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    last_page = max(1, -(-total // PAGE_SIZE))
    links = {
        row.purchase_reference_id: workflow_link(settings, row.workflow_id)
        for row in rows
        if user.is_admin
    }
    return render(
        request, "purchase_history.html", user,
        {"rows": rows, "total": total, "page": page, "last_page": last_page, "chosen": chosen,
         "statuses": STATUSES, "kinds": KINDS, "workflow_links": links},
    )  # fmt: skip


def _csv_values(row: PurchaseRow) -> list[str]:
    return [
        row.purchase_reference_id, str(row.organization_id), row.purchase_type, row.status,
        tokens(row.token_quantity), money(row.subtotal_amount, "").strip(),
        money(row.tax_amount, "").strip(), money(row.total_amount, "").strip(), row.currency,
        row.payment_method, row.invoice_number or "", utc(row.created_at),
        utc(row.completed_at) if row.completed_at else "", row.failure_reason or "",
    ]  # fmt: skip


@router.get("/tokens/history.csv")
async def history_csv(
    session: DbSession, user: Annotated[ConsoleUser, require(VIEW)], chosen: Chosen
) -> Response:
    """Every purchase the filters match, newest first, as CSV (read in batches)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    offset = 0
    while True:
        rows, _ = await _page(session, chosen, EXPORT_BATCH, offset)
        writer.writerows(_csv_values(row) for row in rows)
        if len(rows) < EXPORT_BATCH:
            break
        offset += EXPORT_BATCH
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="purchases.csv"'},
    )
