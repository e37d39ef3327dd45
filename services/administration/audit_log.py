"""Reading the audit log, for admins: who did what to which thing, newest first."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditFilter, search_audit
from db.models import TokenAuditLog


async def search(
    session: AsyncSession, where: AuditFilter, *, limit: int, offset: int
) -> tuple[list[TokenAuditLog], int]:
    """One page of the matching records and how many match in all."""
    return await search_audit(session, where, limit=limit, offset=offset)
