"""Users, as admins manage them: create, list, deactivate, grant and revoke permissions. A
change takes effect on the user's next request."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db import directory
from db.audit import Actor, RequestContext
from db.directory import Role, UserRecord
from services.administration.directory_errors import directory_refusals


@dataclass(frozen=True)
class NewUser:
    email: str
    name: str | None
    role: Role
    user_type: str | None
    organization_id: int | None
    permissions: tuple[str, ...]


async def create_user(
    session: AsyncSession, user: NewUser, actor: Actor, context: RequestContext
) -> UserRecord:
    with directory_refusals():
        return await directory.create_user(
            session, email=user.email, role=user.role, user_type=user.user_type,
            organization_id=user.organization_id, permissions=user.permissions, name=user.name,
            actor=actor, context=context,
        )  # fmt: skip


async def list_users(
    session: AsyncSession,
    *,
    organization_id: int | None,
    limit: int,
    offset: int,
    newest_first: bool = False,
) -> tuple[list[UserRecord], int]:
    """Oldest first (the API's order) unless `newest_first` (the console's)."""
    return await directory.list_users(
        session, organization_id=organization_id, limit=limit, offset=offset,
        newest_first=newest_first,
    )  # fmt: skip


async def deactivate_user(
    session: AsyncSession, user_id: int, actor: Actor, context: RequestContext
) -> UserRecord:
    """The user's tokens stop working at once."""
    with directory_refusals():
        return await directory.deactivate_user(session, user_id, actor=actor, context=context)


async def set_permission(
    session: AsyncSession,
    user_id: int,
    permission: str,
    *,
    granted: bool,
    actor: Actor,
    context: RequestContext,
) -> UserRecord:
    """Grant or revoke one permission; doing what is already so changes nothing."""
    with directory_refusals():
        return await directory.set_permission(
            session, user_id, permission, granted=granted, actor=actor, context=context
        )


async def get_user(session: AsyncSession, user_id: int) -> UserRecord:
    with directory_refusals():
        return await directory.get_user(session, user_id)
