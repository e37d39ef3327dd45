"""Creating and dropping whole databases on a server, for tests that need an empty one."""

import re
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tokenbill.settings import to_libpq_url

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_url_named(url: str, name: str) -> str:
    """The URL of database `name` on the same server, with the same credentials."""
    parts = urlsplit(to_libpq_url(url))
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on url's server (closing its sessions) if it exists."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(to_libpq_url(url), autocommit=True) as conn:
        conn.execute(drop)


def recreate_database(url: str, name: str) -> str:
    """An empty database `name` on url's server, dropped first if it exists; returns its URL."""
    drop_database(url, name)
    with psycopg.connect(to_libpq_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url_named(url, name)
