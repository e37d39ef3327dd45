"""`tokenbill stripe reconcile --day YYYY-MM-DD`: the provider reconciliation of a UTC day
(Stripe's balance transactions against the ledger's charges and refunds), printed and recorded."""

import argparse
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from tokenbill.cli import CommandError, run_db
from tokenbill.settings import Settings

Command = Callable[..., argparse.ArgumentParser]


def cmd_stripe_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from services.errors import ServiceError
    from services.payments_provider.reconciliation import reconcile_day

    day: date = args.day or (datetime.now(UTC).date() - timedelta(days=1))
    try:
        result = run_db(settings, lambda s: reconcile_day(s, settings, day))
    except ServiceError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from exc
    print(
        f"run {result.run_id} for {day}: {result.provider_transactions} Stripe transactions, "
        f"{result.ledger_operations} ledger charges and refunds, "
        f"{len(result.mismatches)} mismatches"
    )
    for m in result.mismatches:
        print(f"  {m.kind:30} {m.subject:40} stripe {m.expected:>12} ledger {m.actual:>12}")
    return 1 if result.mismatches else 0


def add_provider_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", command: Command
) -> None:
    stripe = commands.add_parser("stripe", help="the Stripe payment provider").add_subparsers(
        dest="stripe_command", required=True, metavar="ACTION"
    )
    reconcile = command(
        stripe, "reconcile", cmd_stripe_reconcile,
        "compare Stripe's balance transactions of a UTC day with the ledger's charges and "
        "refunds (exit status 1 when they differ)",
    )  # fmt: skip
    reconcile.add_argument(
        "--day", type=date.fromisoformat, help="YYYY-MM-DD (UTC); yesterday by default"
    )
