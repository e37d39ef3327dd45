"""A fingerprint of everything a request could change, to prove a refused one changed nothing.

Mutable tables are digested row by row; append-only ones (the ledger, the audit log) are counted
with their highest id. Audit rows of refusals for lack of permission are expected and left out.
"""

from psycopg import Connection, sql

MUTABLE_TABLES = (
    "organizations", "users", "api_keys", "organization_token_wallets", "token_lots",
    "token_packages", "token_purchases", "token_subscriptions", "auto_topup_policies",
    "webhook_endpoints", "webhook_deliveries", "invoices", "invoice_lines",
    "idempotency_records", "payment_gateway_operations", "spend_limits", "spend_limit_usage",
)  # fmt: skip
APPEND_ONLY = {
    "ledger_transactions": "true",
    "ledger_entries": "true",
    "token_balance_history": "true",
    "notification_events": "true",
    "low_balance_notifications": "true",
    "token_audit_logs": "outcome <> 'denied'",
}

Snapshot = dict[str, tuple[int, str]]


def _query() -> sql.Composed:
    parts: list[sql.Composable] = []
    for table in MUTABLE_TABLES:
        parts.append(
            sql.SQL(
                "SELECT {name}, count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)),"
                " '') FROM {table} t"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
        )
    for table, where in APPEND_ONLY.items():
        parts.append(
            sql.SQL(
                "SELECT {name}, count(*), coalesce(max(id)::text, '') FROM {table} WHERE {where}"
            ).format(name=sql.Literal(table), table=sql.Identifier(table), where=sql.SQL(where))
        )
    return sql.SQL(" UNION ALL ").join(parts)


SNAPSHOT_QUERY = _query()


def take_snapshot(conn: Connection[tuple[object, ...]]) -> Snapshot:
    rows = conn.execute(SNAPSHOT_QUERY).fetchall()
    return {str(name): (int(str(count)), str(digest)) for name, count, digest in rows}


def changed_tables(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))
