"""Users, for admins: create, list, deactivate, grant and revoke permissions. Audited; a change
takes effect on the user's next request."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin
from api.deps import Session
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.admin import Permission, UserCreate, UserOut
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, UNKNOWN_ORGANIZATION, Page
from db.audit import Actor
from services.administration import users
from services.administration.users import NewUser

router = APIRouter(prefix="/admin/users", tags=["admin"], responses=AUTH_ERRORS)
UserId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="User id.")]
PermissionName = Annotated[Permission, Path(description="tokens.view, tokens.purchase or "
                                                        "tokens.configure")]  # fmt: skip


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    responses=UNKNOWN_ORGANIZATION,
    status_code=201,
    response_model=UserOut,
    summary="Create a user",
    description="Requires the admin role. Needs an `Idempotency-Key` header. Audited.",
)
async def create_user(
    request: Request, principal: Admin, session: Session, body: UserCreate
) -> JSONResponse:
    async def work() -> Answer:
        new = NewUser(
            email=body.email, name=body.name, role=body.role, user_type=body.user_type,
            organization_id=body.organization_id, permissions=tuple(body.permissions),
        )  # fmt: skip
        record = await users.create_user(
            session, new, Actor.user(principal.id), audit_context(request)
        )
        return Answer(201, UserOut.model_validate(record).model_dump(mode="json"))

    return await respond_once(session, request, principal, body, work)


@router.get(
    "",
    summary="List users",
    description="Requires the admin role. Filter by `organization_id`.",
)
async def list_users(
    principal: Admin,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Page[UserOut]:
    records, total = await users.list_users(
        session, organization_id=organization_id, limit=page.limit, offset=page.offset
    )
    return Page[UserOut](
        items=[UserOut.model_validate(r) for r in records],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/{user_id}/deactivate",
    summary="Deactivate a user",
    description="Requires the admin role. The user's tokens stop working at once. Audited.",
)
async def deactivate_user(
    request: Request, principal: Admin, session: Session, user_id: UserId
) -> UserOut:
    record = await users.deactivate_user(
        session, user_id, Actor.user(principal.id), audit_context(request)
    )
    await session.commit()
    return UserOut.model_validate(record)


@router.put(
    "/{user_id}/permissions/{permission}",
    summary="Grant a permission",
    description="Requires the admin role. Granting one the user has changes nothing. Audited.",
)
async def grant_permission(
    request: Request,
    principal: Admin,
    session: Session,
    user_id: UserId,
    permission: PermissionName,
) -> UserOut:
    record = await users.set_permission(
        session, user_id, permission, granted=True, actor=Actor.user(principal.id),
        context=audit_context(request),
    )  # fmt: skip
    await session.commit()
    return UserOut.model_validate(record)


@router.delete(
    "/{user_id}/permissions/{permission}",
    summary="Revoke a permission",
    description="Requires the admin role. Revoking one the user lacks changes nothing. Audited.",
)
async def revoke_permission(
    request: Request,
    principal: Admin,
    session: Session,
    user_id: UserId,
    permission: PermissionName,
) -> UserOut:
    record = await users.set_permission(
        session, user_id, permission, granted=False, actor=Actor.user(principal.id),
        context=audit_context(request),
    )  # fmt: skip
    await session.commit()
    return UserOut.model_validate(record)
