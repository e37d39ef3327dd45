"""`tokenbill apikey create|list|revoke`: the service API keys spend routes accept."""

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.api_keys import API_KEY_SCOPES, ApiKeyRecord
from tokenbill.cli import CLI_ACTOR, PAGE, CommandError, print_table, run_db
from tokenbill.settings import Settings

Command = Callable[..., argparse.ArgumentParser]


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from db.api_keys import create_api_key

    name = args.name.strip()
    if not name:
        raise CommandError("the API key name is empty")
    record, secret = run_db(
        settings,
        lambda s: create_api_key(
            s, name=name, scopes=args.scope, organization_id=args.organization,
            all_organizations=args.all_organizations, actor=CLI_ACTOR,
        ),
    )  # fmt: skip
    where = "ALL organizations" if record.all_organizations else (
        f"organization {record.organization_id}"
    )  # fmt: skip
    print(f"created API key {record.id} {record.name} ({', '.join(record.scopes)}; {where})")
    if record.all_organizations:
        print("warning: this key spends from EVERY organization's wallet")
    print("the key is shown once, keep it now (send it as Authorization: Bearer <key>):")
    print(secret)
    return 0


def cmd_apikey_list(args: argparse.Namespace, settings: Settings) -> int:
    from db.api_keys import list_api_keys

    async def work(session: AsyncSession) -> list[ApiKeyRecord]:
        found: list[ApiKeyRecord] = []
        while True:
            page, total = await list_api_keys(
                session, organization_id=args.organization, limit=PAGE, offset=len(found)
            )
            found += page
            if not page or len(found) >= total:
                return found

    rows = [
        [
            str(k.id), k.name, k.key_prefix + "…", ",".join(k.scopes),
            "any" if k.organization_id is None else str(k.organization_id),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            "-" if k.revoked_at is None else k.revoked_at.strftime("%Y-%m-%d %H:%M"),
        ]
        for k in run_db(settings, work)
    ]  # fmt: skip
    print_table(["ID", "NAME", "KEY", "SCOPES", "ORG", "CREATED", "REVOKED"], rows)
    return 0


def cmd_apikey_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from db.api_keys import revoke_api_key

    record = run_db(settings, lambda s: revoke_api_key(s, args.id, actor=CLI_ACTOR))
    print(f"revoked API key {record.id} {record.name} (it stops working within seconds)")
    return 0


def add_apikey_commands(commands: "argparse._SubParsersAction[Any]", command: Command) -> None:
    apikey = commands.add_parser("apikey", help="manage service API keys").add_subparsers(
        dest="apikey_command", required=True, metavar="ACTION"
    )
    create = command(apikey, "create", cmd_apikey_create, "create an API key (printed once)")
    create.add_argument("name")
    create.add_argument(
        "--scope", action="extend", nargs="+", choices=API_KEY_SCOPES, required=True,
        metavar="SCOPE", help=f"one or more of {', '.join(API_KEY_SCOPES)}",
    )  # fmt: skip
    reach = create.add_mutually_exclusive_group(required=True)
    reach.add_argument(
        "--organization", type=int, metavar="ID", help="bind the key to one organization"
    )
    reach.add_argument(
        "--all-organizations", action="store_true",
        help="a key that spends from every organization's wallet (audited)",
    )  # fmt: skip
    listing = command(apikey, "list", cmd_apikey_list, "list API keys (never their secrets)")
    listing.add_argument("--organization", type=int, metavar="ID")
    command(apikey, "revoke", cmd_apikey_revoke, "revoke an API key").add_argument("id", type=int)
