"""Alembic environment: migrations run synchronously over psycopg 3."""

from alembic import context
from sqlalchemy import create_engine, pool

from db.models import Base
from db.session import utc_connect_args

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "migrate() sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=utc_connect_args())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
