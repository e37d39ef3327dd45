"""Service API keys, as admins manage them: create (the secret is returned once), list, revoke.
A revoked key stops working within API_KEY_CACHE_TTL on every API process."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db import api_keys
from db.api_keys import ApiKeyRecord
from db.audit import Actor, RequestContext
from services.administration.directory_errors import directory_refusals


@dataclass(frozen=True)
class NewApiKey:
    name: str
    scopes: tuple[str, ...]
    organization_id: int | None
    all_organizations: bool


async def create_api_key(
    session: AsyncSession, key: NewApiKey, actor: Actor, context: RequestContext
) -> tuple[ApiKeyRecord, str]:
    """The new key's record and its secret, which is not kept and cannot be shown again."""
    with directory_refusals():
        return await api_keys.create_api_key(
            session, name=key.name, scopes=key.scopes, organization_id=key.organization_id,
            all_organizations=key.all_organizations, actor=actor, context=context,
        )  # fmt: skip


async def list_api_keys(
    session: AsyncSession,
    *,
    organization_id: int | None,
    include_revoked: bool,
    limit: int,
    offset: int,
) -> tuple[list[ApiKeyRecord], int]:
    return await api_keys.list_api_keys(
        session, organization_id=organization_id, include_revoked=include_revoked,
        limit=limit, offset=offset,
    )  # fmt: skip


async def revoke_api_key(
    session: AsyncSession, api_key_id: int, actor: Actor, context: RequestContext
) -> ApiKeyRecord:
    """Revoking a revoked key changes nothing."""
    with directory_refusals():
        return await api_keys.revoke_api_key(session, api_key_id, actor=actor, context=context)
