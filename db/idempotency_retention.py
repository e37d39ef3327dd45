"""Idempotency-Key retention: records older than IDEMPOTENCY_KEY_RETENTION are removed.

Run by the weekly cleanupOldAuditLogs job, so a key is kept at least the retention and at most a
week longer. A retry within the retention is answered with the first answer; a key sent again
after its record was removed is a new request.
"""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import IdempotencyRecord


async def delete_expired_idempotency_records(
    connection: AsyncConnection, *, cutoff: datetime
) -> int:
    """Remove the records created before the cutoff; returns how many."""
    deleted = await connection.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(deleted.rowcount or 0)
