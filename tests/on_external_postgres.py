"""`make test`'s second part: the database-level tests and a short chaos run against an external
PostgreSQL — the system server on port 5432 of the development and CI machines (PostgreSQL 15,
where the embedded one is 18) — each in a database of its own, made for the run and dropped after.

`python -m tests.on_external_postgres` skips, saying so, when no server answers; with `--require`
(what `.ci/run` passes) a missing server fails the run.
"""

import argparse
import os
import subprocess
import sys

import psycopg

from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import to_libpq_url

SYSTEM_SERVER = "postgresql://postgres@/postgres?host=/var/run/postgresql"
DATABASE_LEVEL_TESTS = ("tests/db", "tests/api/spending", "tests/jobs", "tests/activities")
SHORT_CHAOS_RUN = (
    "--duration", "40", "--settle-timeout", "240", "--worker-kill-every", "7", "14",
)  # fmt: skip


def server_version(server_url: str) -> str | None:
    """The server's version string, or None when nothing answers."""
    try:
        with psycopg.connect(to_libpq_url(server_url), connect_timeout=3) as conn:
            row = conn.execute("SELECT current_setting('server_version')").fetchone()
    except psycopg.OperationalError:
        return None
    return None if row is None else str(row[0])


def run_database_tests(server_url: str, pytest_args: list[str]) -> int:
    name = f"tokenbill_ext_{os.getpid()}"
    url = recreate_database(server_url, name)
    try:
        env = {**os.environ, "TEST_DATABASE_URL": url}
        command = [sys.executable, "-m", "pytest", *DATABASE_LEVEL_TESTS, *pytest_args]
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        drop_database(server_url, name)


def run_short_chaos(server_url: str) -> int:
    command = [sys.executable, "-m", "chaos", *SHORT_CHAOS_RUN, "--database-url", server_url]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.on_external_postgres")
    parser.add_argument(
        "--server-url",
        default=os.environ.get("EXTERNAL_POSTGRES_URL", SYSTEM_SERVER),
        help="a superuser's URL of the external server (default: EXTERNAL_POSTGRES_URL, else "
        "the system server's local socket)",
    )
    parser.add_argument("--require", action="store_true", help="fail when no server answers")
    parser.add_argument("--no-chaos", action="store_true", help="only the database-level tests")
    args, pytest_args = parser.parse_known_args(argv)
    version = server_version(args.server_url)
    if version is None:
        print(f"external PostgreSQL: nothing answers at {args.server_url}", file=sys.stderr)
        return 1 if args.require else 0
    print(f"external PostgreSQL {version}: database-level tests", flush=True)
    status = run_database_tests(args.server_url, pytest_args)
    if status == 0 and not args.no_chaos:
        print(f"external PostgreSQL {version}: a short chaos run", flush=True)
        status = run_short_chaos(args.server_url)
    return status


if __name__ == "__main__":
    sys.exit(main())
