"""A whole fuzz run on given servers: a new database, the world, the API, the search."""

import asyncio

import psycopg

from api.app import create_app
from db.migrate import upgrade_to_head
from fuzz.explore import Progress, explore, load_schema
from fuzz.server import serving
from fuzz.tally import Tally
from fuzz.world import build_world
from tokenbill.devstack.databases import recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE_NAME = "tokenbill_fuzz"
TASK_QUEUE = "tokenbill-fuzz"  # no worker polls it: started workflows wait, touching nothing


def run_fuzz(
    server_url: str,
    temporal_address: str,
    *,
    examples: int,
    random_seed: int,
    progress: Progress = lambda line: None,
) -> Tally:
    """Fuzz the API over a new database on server_url's PostgreSQL and the Temporal server."""
    database_url = recreate_database(server_url, DATABASE_NAME)
    upgrade_to_head(database_url)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_task_queue=TASK_QUEUE,
        jwt_secret="fuzz-secret-that-is-long-enough-for-hs256",
        purchase_rate_limit=100_000,
        # No worker delivers here, and a URL the fuzzer makes up must never be looked up.
        webhook_allow_private_addresses=True,
    )
    world = asyncio.run(build_world(settings))
    schema = load_schema(create_app(settings).openapi())
    with (
        serving(settings) as base_url,
        psycopg.connect(to_libpq_url(database_url), autocommit=True) as conn,
    ):
        return explore(
            schema, world, base_url, conn,
            examples=examples, random_seed=random_seed, progress=progress,
        )  # fmt: skip
