"""Audit-log partitions and retention: the one privileged path that removes audit records.

Runs on an owner connection (db.session.create_owner_engine), never the application's role.
Partitions are named token_audit_logs_yYYYYmMM and hold one UTC month each; retention drops a
partition only when every row it may hold is older than the cutoff.

Its SQL stays text on purpose: it calls the audit_log_ensure_partition PL/pgSQL function, reads
the catalog (pg_inherits), drops partition tables by name and trims token_audit_logs_default,
none of which a model maps.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PARTITION_NAME = re.compile(r"^token_audit_logs_y(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class RetentionOutcome:
    partitions_created: list[str]
    partitions_dropped: list[str]
    default_rows_deleted: int


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"token_audit_logs_y{month.year:04d}m{month.month:02d}"


async def ensure_partitions(connection: AsyncConnection, *, today: date, ahead: int) -> list[str]:
    """Create this month's partition and the next `ahead` months'; returns those it created."""
    created: list[str] = []
    first = month_start(today)
    for offset in range(ahead + 1):
        month = add_months(first, offset)
        made = await connection.scalar(
            text("SELECT audit_log_ensure_partition(:month)"), {"month": month}
        )
        if made:
            created.append(partition_name(month))
    return created


async def monthly_partitions(connection: AsyncConnection) -> dict[str, date]:
    """The monthly partitions of token_audit_logs, by name, with the month each holds."""
    rows = await connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'token_audit_logs'::regclass"
        )
    )
    found: dict[str, date] = {}
    for (name,) in rows:
        match = PARTITION_NAME.match(name)
        if match:
            found[name] = date(int(match.group(1)), int(match.group(2)), 1)
    return found


async def drop_expired_partitions(connection: AsyncConnection, *, cutoff: datetime) -> list[str]:
    """Drop every monthly partition whose month ended at or before the cutoff."""
    dropped: list[str] = []
    for name, month in sorted((await monthly_partitions(connection)).items()):
        month_end = datetime.combine(add_months(month, 1), datetime.min.time(), tzinfo=UTC)
        if month_end <= cutoff:
            await connection.execute(text(f'DROP TABLE "{name}"'))
            dropped.append(name)
    return dropped


async def apply_retention(
    connection: AsyncConnection, *, now: datetime, retention_days: int, ahead: int
) -> RetentionOutcome:
    """Create the partitions ahead, drop the expired ones, and trim the default partition."""
    cutoff = now - timedelta(days=retention_days)
    created = await ensure_partitions(connection, today=now.astimezone(UTC).date(), ahead=ahead)
    dropped = await drop_expired_partitions(connection, cutoff=cutoff)
    # The default partition only holds rows whose month had no partition yet; old ones go too.
    deleted = await connection.execute(
        text("DELETE FROM token_audit_logs_default WHERE created_at < :cutoff"),
        {"cutoff": cutoff},
    )
    return RetentionOutcome(created, dropped, int(deleted.rowcount or 0))
