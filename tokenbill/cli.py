"""The `tokenbill` command line: the dev stack, migrations, seed data, the processes, tokens, and
the administration of organizations and users.

Exit status: 0 done, 1 failed (one line on stderr says why), 2 wrong usage.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor
from db.directory import KNOWN_PERMISSIONS, ROLES, DirectoryError, OrganizationRecord, UserRecord
from tokenbill.logging_setup import setup_logging
from tokenbill.settings import Settings, UnsafeSettings, get_settings
from tokenbill.temporal_connect import TemporalConnectionSettingsError

CLI_ACTOR = Actor.system("cli")
PAGE = 200

T = TypeVar("T")
log = logging.getLogger("tokenbill")


class CommandError(Exception):
    """A failure to report as one line on stderr with exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        return fail("invalid settings: " + _describe_all(exc, settings=True))
    try:
        configure_logging(settings.log_level)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        return handler(args, settings)
    except ValidationError as exc:
        # Not the settings: data the command read (a workflow's result) is not what it expects.
        return fail(f"unexpected {exc.title}: " + _describe_all(exc, settings=False))
    except (CommandError, DirectoryError) as exc:
        return fail(str(exc))
    except OperationalError as exc:
        return fail(f"cannot reach the database: {_first_line(str(exc.orig or exc))}")
    except DBAPIError as exc:
        hint = " (run `tokenbill migrate` first)" if "does not exist" in str(exc.orig) else ""
        return fail(f"database error: {_first_line(str(exc.orig or exc))}{hint}")
    except KeyboardInterrupt:
        return 130


def fail(message: str) -> int:
    print(f"tokenbill: error: {message}", file=sys.stderr)
    return 1


def configure_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise CommandError(f"LOG_LEVEL {level!r} is not a logging level (DEBUG, INFO, WARNING…)")
    logging.basicConfig(
        level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def _describe_all(exc: ValidationError, *, settings: bool) -> str:
    """Each error as `WHERE: what`; settings are named as their environment variables."""
    return "; ".join(_describe(e, settings=settings) for e in exc.errors())


def _describe(error: Any, *, settings: bool) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    if settings:
        where = where.upper()
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


# --- Running database work ---


def with_database(settings: Settings) -> Settings:
    """DATABASE_URL, or else the database of a `tokenbill dev` whose data is in this folder."""
    from tokenbill.devstack.stack import dev_database_url

    if settings.database_url:
        return settings
    local = dev_database_url(settings)
    if local is None:
        raise CommandError(
            f"DATABASE_URL is not set, and no `tokenbill dev` database is in {settings.data_dir}/"
        )
    return settings.model_copy(update={"database_url": local})


def run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run work in one committed transaction on a short-lived engine."""

    async def go() -> T:
        from db.session import create_engine, create_session_maker

        engine = create_engine(with_database(settings), pool_size=1)
        try:
            async with create_session_maker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


# --- Commands ---


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from tokenbill.devstack.stack import DevStackError, run_dev_stack

    setup_logging(settings, "dev")
    try:
        return run_dev_stack(settings)
    except DevStackError as exc:
        raise CommandError(str(exc)) from exc


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from db.migrate import upgrade_to_head

    upgrade_to_head(str(with_database(settings).database_url), settings)
    print("database migrated to the latest revision")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from db.seed import SeedConflict, SeedReport, seed_demo, seed_packages

    async def work(session: AsyncSession) -> list[SeedReport]:
        reports = [await seed_packages(session, settings)]
        if args.demo:
            reports.append(await seed_demo(session))
        return reports

    try:
        reports = run_db(settings, work)
    except SeedConflict as exc:
        raise CommandError(str(exc)) from exc
    for report in reports:
        for item in report.created:
            print(f"created {item}")
        for item in report.kept:
            print(f"kept    {item}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker.main import run_worker

    if not settings.temporal_address:
        raise CommandError("TEMPORAL_ADDRESS is not set (tokenbill dev starts a local server)")
    setup_logging(settings, "worker")
    try:
        status = _run_until_signalled(run_worker(settings))
    except RuntimeError as exc:
        log.debug("the worker failed", exc_info=True)
        raise CommandError(f"the worker stopped: {_first_line(str(exc))}") from exc
    _leave_now(status)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from api.main import run_api

    setup_logging(settings, "api")
    try:
        run_api(settings)
    except (UnsafeSettings, TemporalConnectionSettingsError) as exc:
        raise CommandError(f"the API did not start: {exc}") from exc
    _leave_now(0)


def _leave_now(status: int) -> NoReturn:
    """End the process after a clean shutdown without the interpreter's finalization.

    The Temporal core's threads can abort a finalizing interpreter (PyGILState_Release ...
    finalizing, status 134) after everything stopped cleanly; leaving here keeps the real status.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth.jwt_tokens import issue_token
    from db.directory import find_user_by_email

    user = run_db(settings, lambda session: find_user_by_email(session, args.email))
    if user is None:
        raise CommandError(f"no user has the email {args.email}")
    if not user.is_active:
        raise CommandError(f"user {user.email} (id {user.id}) is deactivated")
    print(issue_token(with_signing_secret(settings), user.id))
    return 0


def with_signing_secret(settings: Settings) -> Settings:
    """A safe JWT_SECRET, or else the one a `tokenbill dev` keeps in this folder (as
    with_database finds its database), so tokens made here are the ones its API accepts."""
    from tokenbill.devstack.dev_secret import kept_dev_jwt_secret

    kept = kept_dev_jwt_secret(settings)
    return settings if kept is None else settings.model_copy(update={"jwt_secret": kept})


def cmd_org_create(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import create_organization

    name = args.name.strip()
    if not name:
        raise CommandError("the organization name is empty")
    org = run_db(settings, lambda s: create_organization(s, name, actor=CLI_ACTOR))
    print(f"created organization {org.id} {org.name}")
    return 0


def cmd_org_list(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import list_organizations

    async def work(session: AsyncSession) -> list[OrganizationRecord]:
        found: list[OrganizationRecord] = []
        while True:
            page, total = await list_organizations(session, limit=PAGE, offset=len(found))
            found += page
            if not page or len(found) >= total:
                return found

    rows = [[str(o.id), o.name, _yes_no(o.is_active)] for o in run_db(settings, work)]
    print_table(["ID", "NAME", "ACTIVE"], rows)
    return 0


def cmd_org_deactivate(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import deactivate_organization

    org = run_db(settings, lambda s: deactivate_organization(s, args.id, actor=CLI_ACTOR))
    print(f"deactivated organization {org.id} {org.name}")
    return 0


def cmd_org_reactivate(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import reactivate_organization

    org = run_db(settings, lambda s: reactivate_organization(s, args.id, actor=CLI_ACTOR))
    print(f"reactivated organization {org.id} {org.name}")
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import create_user

    user = run_db(
        settings,
        lambda s: create_user(
            s,
            email=args.email,
            role=args.role,
            user_type=args.user_type,
            organization_id=args.organization,
            permissions=args.permission or [],
            name=args.name,
            actor=CLI_ACTOR,
        ),
    )
    print(f"created user {user.id} {user.email} ({_describe_user(user)})")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import list_users

    async def work(session: AsyncSession) -> list[UserRecord]:
        found: list[UserRecord] = []
        while True:
            page, total = await list_users(
                session, organization_id=args.organization, limit=PAGE, offset=len(found)
            )
            found += page
            if not page or len(found) >= total:
                return found

    rows = [
        [
            str(u.id),
            u.email,
            u.role,
            u.user_type or "-",
            "-" if u.organization_id is None else str(u.organization_id),
            ",".join(u.permissions) or "-",
            _yes_no(u.is_active),
        ]
        for u in run_db(settings, work)
    ]
    print_table(["ID", "EMAIL", "ROLE", "TYPE", "ORG", "PERMISSIONS", "ACTIVE"], rows)
    return 0


def cmd_user_deactivate(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import deactivate_user

    user = run_db(settings, lambda s: deactivate_user(s, args.id, actor=CLI_ACTOR))
    print(f"deactivated user {user.id} {user.email}")
    return 0


def cmd_user_link_subject(args: argparse.Namespace, settings: Settings) -> int:
    from db.directory import link_external_subject

    user = run_db(
        settings, lambda s: link_external_subject(s, args.id, args.subject, actor=CLI_ACTOR)
    )
    print(f"linked user {user.id} {user.email} to subject {args.subject.strip()}")
    return 0


def cmd_user_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from services.errors import ServiceError
    from services.sign_in.passwords import check_new_password, set_password

    password = read_new_password()
    try:
        check_new_password(password)
        user = run_db(settings, lambda s: set_password(s, args.email, password, actor=CLI_ACTOR))
    except ServiceError as exc:
        raise CommandError(exc.message) from exc
    print(f"set the console password of user {user.id} {user.email}")
    return 0


def read_new_password() -> str:
    """From a prompt (typed twice) on a terminal, else the first line of stdin; never argv, where
    other users and the shell history would see it."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise CommandError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_grant(args: argparse.Namespace, settings: Settings) -> int:
    return _set_permission(args, settings, granted=True)


def cmd_user_revoke(args: argparse.Namespace, settings: Settings) -> int:
    return _set_permission(args, settings, granted=False)


def _set_permission(args: argparse.Namespace, settings: Settings, *, granted: bool) -> int:
    from db.directory import set_permission

    user = run_db(
        settings,
        lambda s: set_permission(s, args.id, args.permission, granted=granted, actor=CLI_ACTOR),
    )
    permissions = ", ".join(user.permissions) or "none"
    print(f"user {user.id} {user.email} now has permissions: {permissions}")
    return 0


def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    from db.session import create_engine, create_session_maker
    from tokenbill.job_commands import JobStatus, connect, job_statuses

    async def go() -> list[JobStatus]:
        client = await connect(settings)
        engine = create_engine(with_database(settings), pool_size=1)
        try:
            async with create_session_maker(engine)() as session:
                return await job_statuses(client, session, settings)
        finally:
            await engine.dispose()

    rows = [
        [
            s.job.name, s.cron,
            ("paused" if s.paused else "active") if s.created else "not created",
            _when(s.last_started), _when(s.next_run),
            "-" if s.last_run is None else
            f"{s.last_run.status} seen={s.last_run.seen} changed={s.last_run.changed} "
            f"failed={s.last_run.failed}",
            s.note or "-",
        ]
        for s in _run_jobs_command(go())
    ]  # fmt: skip
    if not settings.enable_token_system:
        print(
            "ENABLE_TOKEN_SYSTEM=false: the worker pauses the jobs that move money or tokens, and "
            "charges and top-ups wait until it is true again."
        )
    print_table(["JOB", "CRON", "STATE", "LAST RUN", "NEXT RUN", "LAST RESULT", "NOTE"], rows)
    _leave_now(0)


def cmd_jobs_run(args: argparse.Namespace, settings: Settings) -> int:
    from tokenbill.job_commands import connect, run_job_now
    from workflows.job_types import JobResult

    async def go() -> tuple[str, JobResult | None]:
        return await run_job_now(await connect(settings), args.name, wait=args.wait)

    workflow_id, result = _run_jobs_command(go())
    print(f"started {args.name} as workflow {workflow_id}")
    if result is not None:
        counts = result.counts
        details = "".join(f" {k}={v}" for k, v in sorted(counts.details.items()))
        print(
            f"{result.status}: seen={counts.seen} changed={counts.changed} "
            f"failed={counts.failed}{details}"
        )
    _leave_now(0)


def _run_jobs_command(work: Coroutine[Any, Any, T]) -> T:
    """Run a jobs command; the commands leave through _leave_now, since they hold a Temporal
    client whose core threads can abort the interpreter's finalization."""
    from tokenbill.job_commands import JobCommandError

    try:
        return asyncio.run(work)
    except JobCommandError as exc:
        _leave_now(fail(str(exc)))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe_user(user: UserRecord) -> str:
    parts = [f"role {user.role}"]
    if user.user_type:
        parts.append(f"type {user.user_type}")
    if user.organization_id is not None:
        parts.append(f"organization {user.organization_id}")
    parts.append("permissions " + (", ".join(user.permissions) or "none"))
    return "; ".join(parts)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _run_until_signalled(work: Coroutine[Any, Any, None]) -> int:
    """Run a long-lived coroutine; SIGTERM cancels it like Ctrl-C, so it shuts down gracefully."""

    async def go() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await work

    try:
        asyncio.run(go())
    except asyncio.CancelledError:
        log.info("stopped")
    return 0


# --- Parser ---


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenbill", description="tokenbill: token wallets, purchases and billing."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        group: "argparse._SubParsersAction[argparse.ArgumentParser]",
        name: str,
        handler: Callable[[argparse.Namespace, Settings], int],
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command(commands, "dev", cmd_dev, "run the whole system locally (Ctrl-C stops it)")
    command(commands, "migrate", cmd_migrate, "upgrade the database to the latest migration")
    seed = command(commands, "seed", cmd_seed, "create the standard token packages")
    seed.add_argument(
        "--demo", action="store_true", help="also the demo organization and demo users"
    )
    command(commands, "worker", cmd_worker, "run the Temporal worker")
    command(commands, "api", cmd_api, "serve the HTTP API")
    token = command(commands, "token", cmd_token, "print a bearer token for a user")
    token.add_argument("email")

    org = commands.add_parser("org", help="manage organizations").add_subparsers(
        dest="org_command", required=True, metavar="ACTION"
    )
    command(org, "create", cmd_org_create, "create an organization").add_argument("name")
    command(org, "list", cmd_org_list, "list organizations")
    command(org, "deactivate", cmd_org_deactivate, "deactivate an organization").add_argument(
        "id", type=int
    )
    command(org, "reactivate", cmd_org_reactivate, "reactivate an organization").add_argument(
        "id", type=int
    )

    jobs = commands.add_parser("jobs", help="the scheduled background jobs").add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION"
    )
    command(jobs, "list", cmd_jobs_list, "list the jobs with their last and next run")
    run = command(jobs, "run", cmd_jobs_run, "run a job now (through its schedule)")
    run.add_argument("name", help="the job's name, e.g. reconcileWalletBalances")
    run.add_argument("--wait", action="store_true", help="wait for the run and print its counts")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    create = command(user, "create", cmd_user_create, "create a user")
    create.add_argument("email")
    create.add_argument("--name")
    create.add_argument("--role", choices=ROLES, default="user")
    create.add_argument("--user-type", help="e.g. insurance")
    create.add_argument("--organization", type=int, metavar="ID")
    create.add_argument(
        "--permission", action="extend", nargs="+", choices=KNOWN_PERMISSIONS,
        metavar="PERMISSION", help=f"one or more of {', '.join(KNOWN_PERMISSIONS)}",
    )  # fmt: skip
    listing = command(user, "list", cmd_user_list, "list users")
    listing.add_argument("--organization", type=int, metavar="ID")
    command(user, "deactivate", cmd_user_deactivate, "deactivate a user").add_argument(
        "id", type=int
    )
    command(
        user, "set-password", cmd_user_set_password,
        "set a user's console password (from a prompt, or the first line of stdin)",
    ).add_argument("email")  # fmt: skip
    link = command(
        user, "link-subject", cmd_user_link_subject,
        "link a user to its subject (sub) at the identity provider",
    )  # fmt: skip
    link.add_argument("id", type=int)
    link.add_argument("subject")
    for name, handler, verb in (
        ("grant", cmd_user_grant, "grant a permission to"),
        ("revoke", cmd_user_revoke, "revoke a permission from"),
    ):
        change = command(user, name, handler, f"{verb} a user")
        change.add_argument("id", type=int)
        change.add_argument("permission", choices=KNOWN_PERMISSIONS)

    from tokenbill.apikey_commands import add_apikey_commands

    add_apikey_commands(commands, command)
    from tokenbill.provider_commands import add_provider_commands

    add_provider_commands(commands, command)
    return parser


if __name__ == "__main__":
    sys.exit(main())
