"""Organizations, for admins: create, list, deactivate, reactivate. Audited."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin
from api.deps import OrganizationId, Session
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.admin import OrganizationCreate, OrganizationOut
from api.schemas.common import AUTH_ERRORS, Page
from db.audit import Actor
from services.administration import organizations

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
    async def work() -> Answer:
        record = await organizations.create_organization(
            session, body.name, Actor.user(principal.id), audit_context(request)
        )
        return Answer(201, OrganizationOut.model_validate(record).model_dump(mode="json"))

    return await respond_once(session, request, principal, body, work)


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
    records, total = await organizations.list_organizations(
        session, active=active, limit=page.limit, offset=page.offset
    )
    return Page[OrganizationOut](
        items=[OrganizationOut.model_validate(r) for r in records],
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
    record = await organizations.deactivate_organization(
        session, organization_id, Actor.user(principal.id), audit_context(request)
    )
    await session.commit()
    return OrganizationOut.model_validate(record)


@router.post(
    "/{organization_id}/reactivate",
    summary="Reactivate an organization",
    description="Requires the admin role. It may spend, buy and configure again, and its waiting "
    "workflows go ahead under the same business keys. Audited.",
)
async def reactivate_organization(
    request: Request, principal: Admin, session: Session, organization_id: OrganizationId
) -> OrganizationOut:
    record = await organizations.reactivate_organization(
        session, organization_id, Actor.user(principal.id), audit_context(request)
    )
    await session.commit()
    return OrganizationOut.model_validate(record)
