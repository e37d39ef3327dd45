"""The reviewed classification of the tables that are NOT distributed by organisation
(docs/distributed-schema.md says why each is where it is).

Every other table has an `organization_id` column and is an organisation table: distributed on
it, its keys include it. A new table is either one of those or is added here after review; the
schema test fails on a table that is neither.
"""

# Replicated to every node: small, read by every shard (joins on the spend path), written rarely.
REFERENCE_TABLES: dict[str, str] = {
    "organizations": "the organisations themselves; a spend joins its organisation (is_active)",
    "token_packages": "the platform's catalogue, read by purchases of every organisation",
    "ledger_accounts": "the chart of accounts: the system accounts and one account per wallet, "
    "written once when a wallet is made; entries on every shard point at it",
    "users": "sign-in finds a user by email or subject before any organisation is known, and "
    "platform staff have no organisation",
    "api_keys": "a request's key is looked up by its hash before its organisation is known, "
    "and platform keys have no organisation",
}

# Kept on the coordinator only (Citus local tables): platform bookkeeping, never read or written
# by a statement that also touches an organisation's shard rows in a join.
COORDINATOR_TABLES: dict[str, str] = {
    "alembic_version": "the schema's migration revision",
    "invoice_number_sequences": "the numbering service: one gapless series per year for the "
    "whole platform, taken by the invoice's transaction (a single row lock per year)",
    "idempotency_records": "the front door's request claims, keyed by principal (a service "
    "principal acts for many organisations) before the body is read",
    "console_sessions": "the console's sign-in sessions, found by their cookie",
    "sign_in_attempts": "sign-in throttling by e-mail and address",
    "rate_limit_counters": "request throttling buckets",
    "job_runs": "the platform's scheduled jobs",
    "reconciliation_runs": "the platform's reconciliation runs",
    "reconciliation_mismatches": "what a reconciliation run found, platform-wide (a mismatch "
    "may name no organisation)",
    "monthly_reports": "the platform's monthly report",
    "monthly_report_organizations": "the monthly report's rows, one per organisation, written "
    "by the platform's report job and read with its report",
    "stripe_events": "the Stripe webhook inbox, keyed by Stripe's event id: an event is claimed "
    "before the organisation it concerns is known, and some (payouts, account events) concern "
    "none; its nullable organization_id is a pointer for finance, not a distribution key",
    "payment_gateway_operations": "the local payment gateway stand-in's own book (in production "
    "the gateway keeps it, outside this database)",
}

# Unique keys the schema test lets through without the organisation. Empty: the spend functions
# that needed ledger_transactions_idempotency_key_key (ON CONFLICT (idempotency_key)) name the
# organisation since migration 0023; the test fails if a name here no longer exists.
AWAITING_SPEND_FUNCTIONS: frozenset[str] = frozenset()
