"""spend_limit_usage retention: a limit's usage row of a period is needed while its period runs
(it is the counter spends are judged by) and, for the answers that show it, for the period
before; older rows are removed once older than SPEND_LIMIT_USAGE_RETENTION.

Run by the weekly cleanupOldAuditLogs job, so a row is kept at least the retention and at most a
week longer; the current and the previous period of each limit are never removed, whatever the
retention says. The ledger keeps every capture and spend the rows counted: nothing is lost.
"""

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The previous period's start: the start of the period holding the instant just before the
# current one's. Both sides filter by the organisation (one shard on a cluster).
DELETE_OLD_USAGE = text(
    """
    DELETE FROM spend_limit_usage u
     USING spend_limits l
     WHERE l.organization_id = u.organization_id AND l.id = u.limit_id
       AND u.period_start < :cutoff
       AND u.period_start < spend_limit_period_start(
             l.period, spend_limit_period_start(l.period, :now) - interval '1 microsecond')
    """
)


async def delete_old_spend_limit_usage(
    connection: AsyncConnection, *, now: datetime, retention: timedelta
) -> int:
    """Remove the usage rows of periods that began before `now - retention`, except each
    limit's current and previous period; returns how many."""
    deleted = await connection.execute(DELETE_OLD_USAGE, {"cutoff": now - retention, "now": now})
    return int(deleted.rowcount or 0)
