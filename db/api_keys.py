"""Service API keys: created (the secret shown once), listed, revoked, and verified by hash.

A key is `tbk_` and 43 URL-safe characters (256 random bits); only its sha256 is stored, which is
enough for a secret of that entropy. The first 12 characters are kept in clear to tell keys apart.

A key is bound to one organization. A key for every organization (organization_id null) spends
from any wallet, so it is made only when asked for explicitly (`all_organizations`), and the
audit row says so.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from psycopg import AsyncConnection
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.directory import CONSUME, DirectoryError, NotFound, get_organization
from db.models import ApiKey

KEY_PREFIX = "tbk_"
VISIBLE_CHARACTERS = 12
API_KEY_SCOPES: tuple[str, ...] = (CONSUME,)


class UnknownScope(DirectoryError):
    code = "unknown_scope"
    status = 422


class OrganizationRequired(DirectoryError):
    """Neither an organization nor the explicit all-organizations flag, or both."""

    code = "organization_required"
    status = 422


@dataclass(frozen=True)
class ApiKeyRecord:
    id: int
    name: str
    key_prefix: str
    scopes: tuple[str, ...]
    organization_id: int | None
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def all_organizations(self) -> bool:
        return self.organization_id is None

    @staticmethod
    def of(row: ApiKey) -> "ApiKeyRecord":
        return ApiKeyRecord(
            row.id, row.name, row.key_prefix, tuple(row.scopes), row.organization_id,
            row.created_by, row.created_at, row.revoked_at,
        )  # fmt: skip


@dataclass(frozen=True)
class ApiKeyIdentity:
    """What a verified key may do: its scopes, and the one organization it is bound to, if any."""

    id: int
    scopes: frozenset[str]
    organization_id: int | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


def _check_scopes(scopes: tuple[str, ...] | list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown or not scopes:
        raise UnknownScope(
            f"scopes must be one or more of {', '.join(API_KEY_SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return sorted(set(scopes))


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: tuple[str, ...] | list[str],
    organization_id: int | None,
    actor: Actor,
    all_organizations: bool = False,
    context: RequestContext | None = None,
) -> tuple[ApiKeyRecord, str]:
    """The new key's record and its secret, which is not kept and cannot be shown again."""
    checked = _check_scopes(scopes)
    if (organization_id is None) != all_organizations:
        raise OrganizationRequired(
            "bind the key to one organization, or ask explicitly for a key that spends for "
            "all organizations (not both)"
        )
    if organization_id is not None:
        await get_organization(session, organization_id)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, key_prefix=secret[:VISIBLE_CHARACTERS], key_hash=hash_secret(secret),
        scopes=checked, organization_id=organization_id,
        created_by=None if actor.id is None else f"{actor.type}:{actor.id}",
    )  # fmt: skip
    session.add(row)
    await session.flush()
    await session.refresh(row)
    record = ApiKeyRecord.of(row)
    await write_audit(
        session, actor=actor, action="api_key.create", organization_id=organization_id,
        target_type="api_key", target_id=record.id,
        after={"name": name, "scopes": checked, "organization_id": organization_id,
               "all_organizations": all_organizations, "key_prefix": record.key_prefix},
        context=context,
    )  # fmt: skip
    return record, secret


async def list_api_keys(
    session: AsyncSession,
    *,
    organization_id: int | None = None,
    include_revoked: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ApiKeyRecord], int]:
    query = select(ApiKey)
    if organization_id is not None:
        query = query.where(ApiKey.organization_id == organization_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(ApiKey.id).limit(limit).offset(offset))
    return [ApiKeyRecord.of(r) for r in rows], int(total or 0)


async def revoke_api_key(
    session: AsyncSession, key_id: int, *, actor: Actor, context: RequestContext | None = None
) -> ApiKeyRecord:
    """Revoke a key; revoking a revoked key changes nothing."""
    row = await session.get(ApiKey, key_id, with_for_update=True)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    if row.revoked_at is None:
        await session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=func.now())
        )
        await session.refresh(row)
        await write_audit(
            session, actor=actor, action="api_key.revoke", organization_id=row.organization_id,
            target_type="api_key", target_id=row.id, before={"revoked_at": None},
            after={"revoked_at": row.revoked_at}, context=context,
        )  # fmt: skip
    return ApiKeyRecord.of(row)


VERIFY_SQL = (
    "SELECT id, scopes, organization_id FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"
)


async def find_active_key(
    conn: AsyncConnection[tuple[object, ...]], secret: str
) -> ApiKeyIdentity | None:
    """The key's identity if the secret is a key that exists and is not revoked."""
    cursor = await conn.execute(VERIFY_SQL, (hash_secret(secret),), prepare=True)
    row = await cursor.fetchone()
    if row is None:
        return None
    key_id, scopes, organization_id = row
    return ApiKeyIdentity(
        cast(int, key_id), frozenset(cast(list[str], scopes)), cast(int | None, organization_id)
    )
