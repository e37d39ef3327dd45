"""Async engine and session factory.

Application engines run their sessions as the restricted role `tokenbill_app` (migration 0008):
it may not UPDATE, DELETE or TRUNCATE the audit log. Only `create_owner_engine` keeps the login's
own rights, for audit-log partitions and retention.
"""

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tokenbill.settings import Settings

APP_ROLE = "tokenbill_app"


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    size = pool_size or settings.database_pool_size
    engine = create_async_engine(
        settings.database_url_async,
        pool_size=size,
        max_overflow=size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
    if settings.database_assume_app_role:
        event.listen(engine.sync_engine, "connect", _assume_app_role)
    return engine


def create_owner_engine(settings: Settings) -> AsyncEngine:
    """One connection with the owner's rights (DATABASE_OWNER_URL, else DATABASE_URL)."""
    url = settings.database_owner_url or settings.database_url
    owner = settings.model_copy(update={"database_url": url})
    return create_async_engine(owner.database_url_async, pool_size=1, max_overflow=0)


def _assume_app_role(dbapi_connection: Any, connection_record: Any) -> None:
    # Committed at once: a SET inside a transaction that later rolls back would be undone.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET ROLE {APP_ROLE}")
    cursor.close()
    dbapi_connection.commit()


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
