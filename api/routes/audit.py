"""The audit log (admin only): who did what to which thing, newest first."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.auth.dependencies import Admin
from api.deps import Session
from api.pagination import PageParams
from api.schemas.audit import AuditRecordOut
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from db.audit import AuditFilter
from services.administration import audit_log

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
    where = AuditFilter(
        actor_type=actor_type, actor_id=actor_id, organization_id=organization_id,
        action=action, outcome=outcome, created_from=created_from, created_to=created_to,
    )  # fmt: skip
    rows, total = await audit_log.search(session, where, limit=page.limit, offset=page.offset)
    return Page[AuditRecordOut](
        items=[AuditRecordOut.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
