"""Running the Alembic migrations from code (the `tokenbill migrate` command and the tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from tokenbill.settings import Settings, to_sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, settings: Settings | None = None) -> Config:
    """The migrations' configuration; `settings` (else the environment's) give the keys that
    encrypt webhook secrets."""
    config = Config()
    if settings is not None:
        config.attributes["settings"] = settings
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", to_sqlalchemy_url(database_url))
    return config


def upgrade_to_head(database_url: str, settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(database_url, settings), "heads")
