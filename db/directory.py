"""Organizations and users: the admin operations the API and the command line share."""

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.models import Organization, User

VIEW = "tokens.view"
PURCHASE = "tokens.purchase"
CONFIGURE = "tokens.configure"
CONSUME = "tokens.consume"
FINANCE = "tokens.finance"
KNOWN_PERMISSIONS: tuple[str, ...] = (VIEW, PURCHASE, CONFIGURE, CONSUME, FINANCE)
ROLES: tuple[str, ...] = ("admin", "user")
Role = Literal["admin", "user"]


class DirectoryError(Exception):
    code = "directory_error"
    status = 400


class NotFound(DirectoryError):
    code = "not_found"
    status = 404


class AlreadyExists(DirectoryError):
    code = "already_exists"
    status = 409


class UnknownPermission(DirectoryError):
    code = "unknown_permission"
    status = 422


@dataclass(frozen=True)
class OrganizationRecord:
    id: int
    name: str
    is_active: bool

    @staticmethod
    def of(row: Organization) -> "OrganizationRecord":
        return OrganizationRecord(row.id, row.name, row.is_active)


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    name: str | None
    role: str
    user_type: str | None
    organization_id: int | None
    permissions: tuple[str, ...]
    is_active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @staticmethod
    def of(row: User) -> "UserRecord":
        return UserRecord(
            row.id, row.email, row.name, row.role, row.user_type, row.organization_id,
            tuple(row.permissions), row.is_active,
        )  # fmt: skip


def _check_permissions(permissions: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(permissions) - set(KNOWN_PERMISSIONS))
    if unknown:
        raise UnknownPermission(
            f"unknown permission(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PERMISSIONS)}"
        )
    return sorted(set(permissions))


async def create_organization(
    session: AsyncSession, name: str, *, actor: Actor, context: RequestContext | None = None
) -> OrganizationRecord:
    org = Organization(name=name)
    session.add(org)
    await session.flush()
    await session.refresh(org)
    await write_audit(
        session, actor=actor, action="organization.create", organization_id=org.id,
        target_type="organization", target_id=org.id, after={"name": name}, context=context,
    )  # fmt: skip
    return OrganizationRecord.of(org)


async def get_organization(session: AsyncSession, organization_id: int) -> OrganizationRecord:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return OrganizationRecord.of(org)


async def organization_is_active(session: AsyncSession, organization_id: int) -> bool | None:
    """Whether the organization is active; None when it does not exist."""
    return await session.scalar(
        select(Organization.is_active).where(Organization.id == organization_id)
    )


async def list_organizations(
    session: AsyncSession,
    *,
    limit: int = 50,
    offset: int = 0,
    active: bool | None = None,
    newest_first: bool = False,
) -> tuple[list[OrganizationRecord], int]:
    query = select(Organization)
    if active is not None:
        query = query.where(Organization.is_active == active)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    order = Organization.id.desc() if newest_first else Organization.id
    rows = await session.scalars(query.order_by(order).limit(limit).offset(offset))
    return [OrganizationRecord.of(r) for r in rows], int(total or 0)


async def deactivate_organization(
    session: AsyncSession,
    organization_id: int,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> OrganizationRecord:
    return await _set_organization_active(session, organization_id, False, actor, context)


async def reactivate_organization(
    session: AsyncSession,
    organization_id: int,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> OrganizationRecord:
    """Let the organization spend, buy and configure again; its waiting workflows resume."""
    return await _set_organization_active(session, organization_id, True, actor, context)


async def _set_organization_active(
    session: AsyncSession,
    organization_id: int,
    active: bool,
    actor: Actor,
    context: RequestContext | None,
) -> OrganizationRecord:
    org = await session.get(Organization, organization_id, with_for_update=True)
    if org is None:
        raise NotFound(f"organization {organization_id} does not exist")
    before = {"is_active": org.is_active}
    org.is_active = active
    await write_audit(
        session, actor=actor,
        action="organization.reactivate" if active else "organization.deactivate",
        organization_id=org.id, target_type="organization", target_id=org.id, before=before,
        after={"is_active": active}, context=context,
    )  # fmt: skip
    return OrganizationRecord.of(org)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    role: Role = "user",
    user_type: str | None = None,
    organization_id: int | None = None,
    permissions: list[str] | tuple[str, ...] = (),
    name: str | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> UserRecord:
    if role not in ROLES:
        raise DirectoryError(f"role must be one of {', '.join(ROLES)}")
    if organization_id is not None:
        await get_organization(session, organization_id)
    user = User(
        email=email.strip().lower(), role=role, user_type=user_type,
        organization_id=organization_id, permissions=_check_permissions(permissions), name=name,
    )  # fmt: skip
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"a user with email {email} already exists") from exc
    await session.refresh(user)
    record = UserRecord.of(user)
    await write_audit(
        session, actor=actor, action="user.create", organization_id=organization_id,
        target_type="user", target_id=user.id,
        after={"email": record.email, "role": role, "permissions": list(record.permissions)},
        context=context,
    )  # fmt: skip
    return record


async def get_user(session: AsyncSession, user_id: int) -> UserRecord:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return UserRecord.of(user)


async def find_user_by_email(session: AsyncSession, email: str) -> UserRecord | None:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    return None if user is None else UserRecord.of(user)


async def find_user_by_external_subject(session: AsyncSession, subject: str) -> UserRecord | None:
    user = await session.scalar(select(User).where(User.external_subject == subject))
    return None if user is None else UserRecord.of(user)


async def link_external_subject(
    session: AsyncSession,
    user_id: int,
    subject: str,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> UserRecord:
    """Link the user to its subject at the identity provider (`sub`); one user per subject."""
    subject = subject.strip()
    if not subject or len(subject) > 255:
        raise DirectoryError("a subject is 1 to 255 characters")
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    before = {"external_subject": user.external_subject}
    try:
        # Set inside the savepoint: begin_nested() flushes pending changes before it starts.
        async with session.begin_nested():
            user.external_subject = subject
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"another user is linked to subject {subject}") from exc
    await write_audit(
        session, actor=actor, action="user.link_subject", organization_id=user.organization_id,
        target_type="user", target_id=user.id, before=before,
        after={"external_subject": subject}, context=context,
    )  # fmt: skip
    return UserRecord.of(user)


async def list_users(
    session: AsyncSession,
    *,
    organization_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = False,
) -> tuple[list[UserRecord], int]:
    query = select(User)
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    order = User.id.desc() if newest_first else User.id
    rows = await session.scalars(query.order_by(order).limit(limit).offset(offset))
    return [UserRecord.of(r) for r in rows], int(total or 0)


async def deactivate_user(
    session: AsyncSession, user_id: int, *, actor: Actor, context: RequestContext | None = None
) -> UserRecord:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    before = {"is_active": user.is_active}
    user.is_active = False
    await write_audit(
        session, actor=actor, action="user.deactivate", organization_id=user.organization_id,
        target_type="user", target_id=user.id, before=before, after={"is_active": False},
        context=context,
    )  # fmt: skip
    return UserRecord.of(user)


async def set_permission(
    session: AsyncSession,
    user_id: int,
    permission: str,
    *,
    granted: bool,
    actor: Actor,
    context: RequestContext | None = None,
) -> UserRecord:
    """Grant or revoke one permission; doing what is already so changes nothing."""
    _check_permissions([permission])
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    before = sorted(user.permissions)
    after = (
        sorted(set(before) | {permission}) if granted else [p for p in before if p != permission]
    )
    if after != before:
        user.permissions = after
        await write_audit(
            session, actor=actor,
            action="user.permission_grant" if granted else "user.permission_revoke",
            organization_id=user.organization_id, target_type="user", target_id=user.id,
            before={"permissions": before}, after={"permissions": after}, context=context,
        )  # fmt: skip
    return UserRecord.of(user)
