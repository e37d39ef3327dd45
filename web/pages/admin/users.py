"""`/admin/users`: the users (filtered by organization) and a new user's form; each user's page
with its permissions (grant, revoke), its password (set or reset) and deactivation."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.schemas.admin import UserCreate
from api.schemas.common import MAX_ROW_ID
from db.directory import KNOWN_PERMISSIONS
from services.administration import organizations, users
from services.administration.users import NewUser
from services.errors import ServiceError
from services.sign_in.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, set_password
from web.context import Context, DbSession
from web.csrf import check_csrf
from web.pages.admin.access import AdminUser, actor, form_problem, notice, status_of
from web.templates import render

router = APIRouter()
PAGE_SIZE = 50
ORGANIZATION_CHOICES = 500
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def _row_id(field: str) -> int | str | None:
    """A form's id field as the API's body would carry it: empty is none, digits a number."""
    return int(field) if field.isdigit() else field or None


async def _list_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    *,
    organization_id: int | None = None,
    offset: int = 0,
    done: str | None = None,
    error: str | None = None,
    form: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    records, total = await users.list_users(
        session, organization_id=organization_id, limit=PAGE_SIZE, offset=offset, newest_first=True
    )
    choices, _ = await organizations.list_organizations(
        session, active=None, limit=ORGANIZATION_CHOICES, offset=0, newest_first=True
    )
    return render(
        request, "admin_users.html", admin,
        {"users": records, "total": total, "offset": offset, "page_size": PAGE_SIZE,
         "organization_id": organization_id, "organizations": choices,
         "names": {o.id: o.name for o in choices}, "permissions": KNOWN_PERMISSIONS,
         "notice": notice(done), "error": error, "form": form or {}},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/users")
async def users_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    organization_id: Annotated[str, Query(max_length=16, pattern=r"^[0-9]{0,9}$")] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """`organization_id` left empty (the filter's "every organization") filters nothing."""
    chosen = int(organization_id) if organization_id else None
    return await _list_page(
        request, session, admin, organization_id=chosen, offset=offset, done=done
    )


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
async def create_user(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    email: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=16)] = "user",
    organization_id: Annotated[str, Form(max_length=16)] = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    form: dict[str, object] = {
        "email": email, "name": name, "role": role, "organization_id": organization_id,
        "permissions": permissions or [],
    }  # fmt: skip
    try:
        body = UserCreate.model_validate(
            {"email": email, "name": name or None, "role": role,
             "organization_id": _row_id(organization_id), "permissions": permissions or []}
        )  # fmt: skip
    except ValidationError as error:
        return await _list_page(request, session, admin, error=form_problem(error), form=form,
                                status_code=422)  # fmt: skip
    new = NewUser(
        email=body.email, name=body.name, role=body.role, user_type=body.user_type,
        organization_id=body.organization_id, permissions=tuple(body.permissions),
    )  # fmt: skip
    try:
        record = await users.create_user(session, new, actor(admin), context)
    except ServiceError as error:
        await session.rollback()
        return await _list_page(request, session, admin, error=error.message, form=form,
                                status_code=status_of(error))  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/admin/users/{record.id}?done=user_created", status_code=303)


async def _user_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    user_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        record = await users.get_user(session, user_id)
    except ServiceError as missing:
        return render(request, "admin_user.html", admin, {"error": missing.message},
                      status_code=status_of(missing))  # fmt: skip
    organization = None
    if record.organization_id is not None:
        organization = await organizations.get_organization(session, record.organization_id)
    return render(
        request, "admin_user.html", admin,
        {"member": record, "organization": organization, "permissions": KNOWN_PERMISSIONS,
         "min_password": MIN_PASSWORD_LENGTH, "max_password": MAX_PASSWORD_LENGTH,
         "notice": notice(done), "error": error},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    user_id: RowId,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return await _user_page(request, session, admin, user_id, done=done)


async def _after(
    request: Request, session: DbSession, admin: AdminUser, user_id: int, error: ServiceError
) -> Response:
    await session.rollback()
    return await _user_page(request, session, admin, user_id, error=error.message,
                            status_code=status_of(error))  # fmt: skip


@router.post("/admin/users/{user_id}/permissions", dependencies=[Depends(check_csrf)])
async def change_permission(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    user_id: RowId,
    permission: Annotated[str, Form(max_length=64)],
    change: Annotated[Literal["grant", "revoke"], Form()],
) -> Response:
    try:
        await users.set_permission(
            session, user_id, permission, granted=change == "grant", actor=actor(admin),
            context=context,
        )  # fmt: skip
    except ServiceError as error:
        return await _after(request, session, admin, user_id, error)
    await session.commit()
    done = "permission_granted" if change == "grant" else "permission_revoked"
    return RedirectResponse(f"/admin/users/{user_id}?done={done}", status_code=303)


@router.post("/admin/users/{user_id}/password", dependencies=[Depends(check_csrf)])
async def set_user_password(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    user_id: RowId,
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
) -> Response:
    try:
        member = await users.get_user(session, user_id)
        await set_password(session, member.email, password, actor=actor(admin), context=context)
    except ServiceError as error:
        return await _after(request, session, admin, user_id, error)
    await session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=password_set", status_code=303)


@router.post("/admin/users/{user_id}/deactivate", dependencies=[Depends(check_csrf)])
async def deactivate_user(
    request: Request, session: DbSession, context: Context, admin: AdminUser, user_id: RowId
) -> Response:
    try:
        await users.deactivate_user(session, user_id, actor(admin), context)
    except ServiceError as error:
        return await _after(request, session, admin, user_id, error)
    await session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?done=user_deactivated", status_code=303)
