"""`/admin/audit`: the audit log, newest first, with the API's filters (actor, organization,
action or action prefix ending in `.`, outcome, and a range of UTC days)."""

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from api.schemas.common import MAX_ROW_ID
from db.audit import AuditFilter
from services.administration import audit_log
from web.context import DbSession
from web.pages.admin.access import AdminUser
from web.templates import render

router = APIRouter()
PAGE_SIZE = 50


class AuditQuery(BaseModel):
    """The filter form's fields; a field left empty filters nothing. `day_to` is inclusive."""

    actor_type: Literal["user", "service", "system"] | None = None
    actor_id: str | None = Field(None, max_length=64)
    organization_id: int | None = Field(None, ge=1, le=MAX_ROW_ID)
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9_.]+$")
    outcome: Literal["success", "denied", "failure"] | None = None
    day_from: date | None = None
    day_to: date | None = None
    offset: int = Field(0, ge=0, le=MAX_ROW_ID)

    @field_validator("*", mode="before")
    @classmethod
    def empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def where(self) -> AuditFilter:
        until = self.day_to + timedelta(days=1) if self.day_to else None
        return AuditFilter(
            actor_type=self.actor_type, actor_id=self.actor_id,
            organization_id=self.organization_id, action=self.action, outcome=self.outcome,
            created_from=_start_of(self.day_from), created_to=_start_of(until),
        )  # fmt: skip

    def kept(self) -> str:
        """The filters as a query string, for the pages' links."""
        chosen = self.model_dump(exclude={"offset"}, exclude_none=True)
        return urlencode({name: str(value) for name, value in chosen.items()})


def _written(after: dict[str, Any] | None) -> str:
    """A record's after-state as readable JSON (the page escapes it; no \\u003c escapes)."""
    return "-" if after is None else json.dumps(after, ensure_ascii=False, sort_keys=True)


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


@router.get("/admin/audit")
async def audit_page(
    request: Request, session: DbSession, admin: AdminUser, query: Annotated[AuditQuery, Query()]
) -> Response:
    rows, total = await audit_log.search(
        session, query.where(), limit=PAGE_SIZE, offset=query.offset
    )
    return render(
        request, "admin_audit.html", admin,
        {"records": rows, "total": total, "page_size": PAGE_SIZE, "query": query,
         "kept": query.kept(), "afters": {row.id: _written(row.after) for row in rows}},
    )  # fmt: skip
