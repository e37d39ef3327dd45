"""An organization's notifications: low-balance notifications and outbox events (tokens.view)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from api.auth.dependencies import Viewer, authorize_organization
from api.deps import Session
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.spend_settings import NotificationOut
from services.wallet.notifications import notifications_feed

router = APIRouter(prefix="/notifications", tags=["notifications"], responses=AUTH_ERRORS)
NotificationStatus = Literal["pending", "dispatched", "delivered", "failed"]


@router.get(
    "",
    summary="List an organization's notifications",
    description="Requires `tokens.view` on the organization. Newest first: the wallet's "
    "low-balance notifications (`source` low_balance: level, threshold, balance) and the "
    "organization's outbox events (`source` outbox: balance alerts, auto top-up triggers, "
    "purchase and subscription events, with their payload). Filter by `source`, `status`, "
    "`created_from` / `created_to` (ISO 8601 with zone).",
)
async def get_notifications(
    request: Request,
    principal: Viewer,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
    source: Annotated[Literal["low_balance", "outbox"] | None, Query()] = None,
    status: Annotated[NotificationStatus | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[NotificationOut]:
    await authorize_organization(request, principal, organization_id)
    records, total = await notifications_feed(
        session, organization_id, source=source, status=status, created_from=created_from,
        created_to=created_to, limit=page.limit, offset=page.offset,
    )  # fmt: skip
    items = [NotificationOut.model_validate(record, from_attributes=True) for record in records]
    return Page[NotificationOut](items=items, total=total, limit=page.limit, offset=page.offset)
