"""The models (db/models/) describe the tables and columns the migrations create: Alembic's
comparison of `Base.metadata` with the migrated database finds no table or column to add, drop
or change. (Indexes and constraints some migrations add without a model declaring them are not
compared here.)"""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Base

TABLE_AND_COLUMN_CHANGES = {
    "add_table", "remove_table", "add_column", "remove_column",
    "modify_type", "modify_nullable", "modify_default",
}  # fmt: skip


def _not_an_audit_partition(obj: Any, name: str | None, kind: str, *_: Any) -> bool:
    """The audit log's monthly partitions are made at run time, not by a model."""
    return not (kind == "table" and name is not None and name.startswith("token_audit_logs_"))


def _changes(connection: Connection) -> list[tuple[Any, ...]]:
    context = MigrationContext.configure(
        connection, opts={"include_object": _not_an_audit_partition}
    )
    found: list[tuple[Any, ...]] = []
    for diff in compare_metadata(context, Base.metadata):
        for change in diff if isinstance(diff, list) else [diff]:
            if change[0] in TABLE_AND_COLUMN_CHANGES:
                found.append(change)
    return found


async def test_every_migrated_table_and_column_has_its_model(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        changes = await connection.run_sync(_changes)

    assert changes == []
