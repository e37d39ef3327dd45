"""Async engine and session factory.

Application engines run their sessions as the restricted role `tokenbill_app` (migration 0008):
it may not UPDATE, DELETE or TRUNCATE the audit log. Only `create_owner_engine` keeps the login's
own rights, for audit-log partitions and retention.

Every session the application opens runs in UTC, whatever the server, the database or the login
role is set to: datetimes read back then carry UTC, so the billing periods rebuilt from them and
the keys built from them are the same on every server.
"""

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tokenbill.settings import Settings

APP_ROLE = "tokenbill_app"
UTC_OPTION = "-c timezone=UTC"


def utc_connect_args() -> dict[str, str]:
    """libpq connection options that pin the session's time zone: set at connection start-up,
    so it costs no round trip and overrides any server, database or role default."""
    return {"options": UTC_OPTION}


def app_role_connect_args(settings: Settings) -> dict[str, str]:
    """libpq connection options that start every session in UTC and, when the settings say so,
    as the application role: set at connection start-up, so no transaction can undo them."""
    if not settings.database_assume_app_role:
        return utc_connect_args()
    return {"options": f"-c role={APP_ROLE} {UTC_OPTION}"}


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    size = pool_size or settings.database_pool_size
    engine = create_async_engine(
        settings.database_url_async,
        pool_size=size,
        max_overflow=size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=app_role_connect_args(settings),
    )
    return engine


def create_owner_engine(settings: Settings) -> AsyncEngine:
    """One connection with the owner's rights (DATABASE_OWNER_URL, else DATABASE_URL)."""
    url = settings.database_owner_url or settings.database_url
    owner = settings.model_copy(update={"database_url": url})
    return create_async_engine(
        owner.database_url_async, pool_size=1, max_overflow=0, connect_args=utc_connect_args()
    )


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
