"""Organizations, for admins: create, list, deactivate. Audited through db.directory."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin
from api.deps import OrganizationId, Session
from api.idempotency import IDEMPOTENT_ROUTE, claim, idempotent_request, store_response
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.admin import OrganizationCreate, OrganizationOut
from api.schemas.common import AUTH_ERRORS, Page
from db import directory
from db.audit import Actor

router = APIRouter(prefix="/admin/organizations", tags=["admin"], responses=AUTH_ERRORS)


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=201,
    response_model=OrganizationOut,
    summary="Create an organization",
    description="Requires the admin role. Needs an `Idempotency-Key` header. Audited.",
)
async def create_organization(
    request: Request, principal: Admin, session: Session, body: OrganizationCreate
) -> JSONResponse:
    idempotency = idempotent_request(request, principal, body)
    replay = await claim(session, idempotency)
    if replay is not None:
        return replay.response()
    record = await directory.create_organization(
        session, body.name, actor=Actor.user(principal.id), context=audit_context(request)
    )
    answer = OrganizationOut.of(record).model_dump(mode="json")
    await store_response(session, idempotency, 201, answer)
    await session.commit()
    return JSONResponse(answer, status_code=201)


@router.get(
    "",
    summary="List organizations",
    description="Requires the admin role. Filter by `active`.",
)
async def list_organizations(
    principal: Admin,
    session: Session,
    page: PageParams,
    active: Annotated[bool | None, Query()] = None,
) -> Page[OrganizationOut]:
    records, total = await directory.list_organizations(
        session, limit=page.limit, offset=page.offset, active=active
    )
    return Page[OrganizationOut](
        items=[OrganizationOut.of(r) for r in records],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/{organization_id}/deactivate",
    summary="Deactivate an organization",
    description="Requires the admin role. Its spends, purchases, subscription renewals and "
    "automatic top-ups are refused (409 `organization_inactive`) and its users can no longer "
    "change its configuration; its workflows wait without charging until it is reactivated. "
    "Audited.",
)
async def deactivate_organization(
    request: Request, principal: Admin, session: Session, organization_id: OrganizationId
) -> OrganizationOut:
    record = await directory.deactivate_organization(
        session, organization_id, actor=Actor.user(principal.id), context=audit_context(request)
    )
    await session.commit()
    return OrganizationOut.of(record)


@router.post(
    "/{organization_id}/reactivate",
    summary="Reactivate an organization",
    description="Requires the admin role. It may spend, buy and configure again, and its waiting "
    "workflows go ahead under the same business keys. Audited.",
)
async def reactivate_organization(
    request: Request, principal: Admin, session: Session, organization_id: OrganizationId
) -> OrganizationOut:
    record = await directory.reactivate_organization(
        session, organization_id, actor=Actor.user(principal.id), context=audit_context(request)
    )
    await session.commit()
    return OrganizationOut.of(record)
