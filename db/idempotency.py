"""The idempotency_records table: a key claimed per scope, the request it was bound to, and the
first answer kept for replays. Removal after IDEMPOTENCY_KEY_RETENTION is
db/idempotency_retention.py's."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyRecord


@dataclass(frozen=True)
class ClaimedKey:
    """A key's record as a replay finds it; a null status means its first request is running."""

    request_hash: str
    response_status: int | None
    response_body: Any


async def insert_claim(session: AsyncSession, scope: str, key: str, request_hash: str) -> bool:
    """Claim the key (True), or find it claimed already (False). A concurrent claim of the same
    key waits on the unique index until the first one commits or rolls back."""
    claimed = await session.scalar(
        pg_insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyRecord.id)
    )
    return claimed is not None


async def claimed_key(session: AsyncSession, scope: str, key: str) -> ClaimedKey:
    row = (
        await session.execute(
            select(
                IdempotencyRecord.request_hash,
                IdempotencyRecord.response_status,
                IdempotencyRecord.response_body,
            ).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
    ).one()
    return ClaimedKey(row.request_hash, row.response_status, row.response_body)


async def keep_response(
    session: AsyncSession, scope: str, key: str, status: int, body: Any
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(response_status=status, response_body=body)
    )


async def delete_key(session: AsyncSession, scope: str, key: str) -> None:
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )
