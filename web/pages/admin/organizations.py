"""`/admin`: the organizations, newest first, with create, deactivate and reactivate."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.schemas.admin import OrganizationCreate
from api.schemas.common import MAX_ROW_ID
from services.administration import organizations
from services.errors import ServiceError
from web.context import Context, DbSession
from web.csrf import check_csrf
from web.pages.admin.access import AdminUser, actor, form_problem, notice, status_of
from web.templates import render

router = APIRouter()
PAGE_SIZE = 50


async def _page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    *,
    offset: int = 0,
    done: str | None = None,
    error: str | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    records, total = await organizations.list_organizations(
        session, active=None, limit=PAGE_SIZE, offset=offset, newest_first=True
    )
    return render(
        request, "admin_organizations.html", admin,
        {"organizations": records, "total": total, "offset": offset, "page_size": PAGE_SIZE,
         "notice": notice(done), "error": error, "name": name},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin")
async def organizations_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return await _page(request, session, admin, offset=offset, done=done)


@router.post("/admin/organizations", dependencies=[Depends(check_csrf)])
async def create_organization(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        body = OrganizationCreate(name=name)
    except ValidationError as error:
        return await _page(
            request, session, admin, error=form_problem(error), name=name, status_code=422
        )
    await organizations.create_organization(session, body.name, actor(admin), context)
    await session.commit()
    return RedirectResponse("/admin?done=organization_created", status_code=303)


@router.post("/admin/organizations/{organization_id}/{change}", dependencies=[Depends(check_csrf)])
async def change_organization(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    organization_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    change: Literal["deactivate", "reactivate"],
) -> Response:
    command = (
        organizations.deactivate_organization
        if change == "deactivate"
        else organizations.reactivate_organization
    )
    try:
        await command(session, organization_id, actor(admin), context)
    except ServiceError as error:
        await session.rollback()
        return await _page(request, session, admin, error=error.message,
                           status_code=status_of(error))  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/admin?done=organization_{change}d", status_code=303)
