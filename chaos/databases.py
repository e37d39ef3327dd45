"""The chaos run's PostgreSQL: a local server of its own (the default), or a database of its own
on an external server (the system PostgreSQL, as production runs on one tokenbill does not start).

Both give the run the same fault: the database goes away for a few seconds while traffic flows.
The local server is shut down and started again on its data; on an external server, which the run
must not stop, the run's database refuses new connections and every open one is cut, then it
takes connections again. To the API and the worker both look like a restart.
"""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

from tokenbill.devstack.databases import database_url_named, drop_database, recreate_database
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.settings import to_libpq_url


class ChaosDatabase(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def outage_description(self) -> str: ...

    def start(self) -> None: ...

    def outage(self, down_seconds: float) -> None: ...

    def stop(self) -> None: ...


@dataclass
class LocalDatabase:
    """A PostgreSQL server of the run's own, under its work folder."""

    folder: Path
    server: LocalPostgres = field(init=False)
    outage_description: str = "fast shutdown, then start on the same data"

    def __post_init__(self) -> None:
        self.server = LocalPostgres(self.folder)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def outage(self, down_seconds: float) -> None:
        self.server.stop()
        time.sleep(down_seconds)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@dataclass
class ExternalDatabase:
    """A database of the run's own on an external server, made at start and dropped at stop.
    `server_url` is a superuser's (or a role with CREATEDB and pg_signal_backend) URL."""

    server_url: str
    name: str = field(default_factory=lambda: f"tokenbill_chaos_{os.getpid()}")
    outage_description: str = "connections refused and every open one cut, then allowed again"

    @property
    def url(self) -> str:
        return database_url_named(self.server_url, self.name)

    def start(self) -> None:
        recreate_database(self.server_url, self.name)

    def outage(self, down_seconds: float) -> None:
        database = sql.Identifier(self.name)
        with psycopg.connect(to_libpq_url(self.server_url), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(database))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            time.sleep(down_seconds)
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(database))

    def stop(self) -> None:
        drop_database(self.server_url, self.name)
