"""The audit log (admin only): who did what to which thing, newest first."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import func, select

from api.auth.dependencies import Admin
from api.deps import Session
from api.pagination import PageParams
from api.schemas.audit import AuditRecordOut
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from db.models import TokenAuditLog

router = APIRouter(prefix="/audit", tags=["audit"], responses=AUTH_ERRORS)


@router.get(
    "",
    summary="Search the audit log",
    description="Requires the admin role. Filter by `actor_type` and `actor_id`, "
    "`organization_id`, `action` (exact, or a prefix ending in `.`, e.g. `purchase.`), "
    "`outcome`, and `created_from` / `created_to` (ISO 8601 with zone; from inclusive, to "
    "exclusive). Newest first.",
)
async def get_audit(
    principal: Admin,
    session: Session,
    page: PageParams,
    actor_type: Annotated[Literal["user", "service", "system"] | None, Query()] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+$")] = None,
    outcome: Annotated[Literal["success", "denied", "failure"] | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[AuditRecordOut]:
    query = select(TokenAuditLog)
    if actor_type is not None:
        query = query.where(TokenAuditLog.actor_type == actor_type)
    if actor_id is not None:
        query = query.where(TokenAuditLog.actor_id == actor_id)
    if organization_id is not None:
        query = query.where(TokenAuditLog.organization_id == organization_id)
    if action is not None and action.endswith("."):
        query = query.where(TokenAuditLog.action.startswith(action, autoescape=True))
    elif action is not None:
        query = query.where(TokenAuditLog.action == action)
    if outcome is not None:
        query = query.where(TokenAuditLog.outcome == outcome)
    if created_from is not None:
        query = query.where(TokenAuditLog.created_at >= created_from)
    if created_to is not None:
        query = query.where(TokenAuditLog.created_at < created_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenAuditLog.created_at.desc(), TokenAuditLog.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return Page[AuditRecordOut](
        items=[
            AuditRecordOut(
                id=r.id, created_at=r.created_at, actor_type=r.actor_type, actor_id=r.actor_id,
                organization_id=r.organization_id, action=r.action, outcome=r.outcome,
                target_type=r.target_type, target_id=r.target_id, before=r.before, after=r.after,
                ip_address=r.ip_address, request_id=r.request_id,
            )
            for r in rows
        ],
        total=int(total or 0), limit=page.limit, offset=page.offset,
    )  # fmt: skip
