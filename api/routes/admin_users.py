"""Users, for admins: create, list, deactivate, grant and revoke permissions. Audited through
db.directory; a change takes effect on the user's next request."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Admin
from api.deps import Session
from api.idempotency import IDEMPOTENT_ROUTE, claim, idempotent_request, store_response
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.admin import Permission, UserCreate, UserOut
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, UNKNOWN_ORGANIZATION, Page
from db import directory
from db.audit import Actor

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
    idempotency = idempotent_request(request, principal, body)
    replay = await claim(session, idempotency)
    if replay is not None:
        return replay.response()
    record = await directory.create_user(
        session, email=body.email, role=body.role, user_type=body.user_type,
        organization_id=body.organization_id, permissions=tuple(body.permissions), name=body.name,
        actor=Actor.user(principal.id), context=audit_context(request),
    )  # fmt: skip
    answer = UserOut.of(record).model_dump(mode="json")
    await store_response(session, idempotency, 201, answer)
    await session.commit()
    return JSONResponse(answer, status_code=201)


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
    records, total = await directory.list_users(
        session, organization_id=organization_id, limit=page.limit, offset=page.offset
    )
    return Page[UserOut](
        items=[UserOut.of(r) for r in records], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/{user_id}/deactivate",
    summary="Deactivate a user",
    description="Requires the admin role. The user's tokens stop working at once. Audited.",
)
async def deactivate_user(
    request: Request, principal: Admin, session: Session, user_id: UserId
) -> UserOut:
    record = await directory.deactivate_user(
        session, user_id, actor=Actor.user(principal.id), context=audit_context(request)
    )
    await session.commit()
    return UserOut.of(record)


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
    return await _set_permission(request, principal.id, session, user_id, permission, True)


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
    return await _set_permission(request, principal.id, session, user_id, permission, False)


async def _set_permission(
    request: Request,
    actor_id: int,
    session: AsyncSession,
    user_id: int,
    permission: str,
    granted: bool,
) -> UserOut:
    record = await directory.set_permission(
        session, user_id, permission, granted=granted, actor=Actor.user(actor_id),
        context=audit_context(request),
    )  # fmt: skip
    await session.commit()
    return UserOut.of(record)
