"""generateMonthlyReports' bookkeeping: a report per month, filled organization by organization.

A report is `building` until every wallet page is in, then `complete`; a complete report is never
rewritten, so running the job again for a month changes nothing. Figures are exact decimals kept
as strings; money is per currency.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit_retention import add_months

PAGE_SIZE = 200
CENT = Decimal("0.01")
MONEY_FIELDS = ("revenue", "net_revenue", "tax", "one_time", "subscription", "auto_topup")
TOKEN_FIELDS = ("purchased", "consumed", "expired")
COUNT_FIELDS = ("completed", "failed", "refunded")
SUBSCRIPTION_FIELDS = ("started", "cancelled", "active")


def parse_month(value: str) -> date:
    """`2026-10` -> date(2026, 10, 1); ValueError otherwise."""
    year, sep, month = value.partition("-")
    if not sep or len(year) != 4 or len(month) != 2 or not (year + month).isdigit():
        raise ValueError(f"{value!r} is not a month (YYYY-MM)")
    return date(int(year), int(month), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime.combine(month, time.min, tzinfo=UTC)
    return start, datetime.combine(add_months(month, 1), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class ReportHandle:
    id: int
    month: date
    complete: bool


async def begin_report(session: AsyncSession, *, month: date, workflow_id: str) -> ReportHandle:
    """The month's report row, created on first need."""
    await session.execute(
        text(
            "INSERT INTO monthly_reports (month, workflow_id) VALUES (:m, :wf) "
            "ON CONFLICT (month) DO NOTHING"
        ),
        {"m": month, "wf": workflow_id},
    )
    row = (
        await session.execute(
            text("SELECT id, month, status FROM monthly_reports WHERE month = :m"), {"m": month}
        )
    ).one()
    return ReportHandle(int(row.id), row.month, row.status == "complete")


async def load_handle(session: AsyncSession, report_id: int) -> ReportHandle:
    row = (
        await session.execute(
            text("SELECT id, month, status FROM monthly_reports WHERE id = :i"), {"i": report_id}
        )
    ).one()
    return ReportHandle(int(row.id), row.month, row.status == "complete")


@dataclass(frozen=True)
class PageOutcome:
    organizations: int
    last_wallet_id: int | None


async def fill_page(
    session: AsyncSession, report: ReportHandle, after_wallet_id: int
) -> PageOutcome:
    """Write the figures of the organizations of the next page of wallets."""
    wallets = (
        await session.execute(
            text(
                "SELECT w.id, w.organization_id, o.name FROM organization_token_wallets w "
                "JOIN organizations o ON o.id = w.organization_id "
                "WHERE w.id > :after ORDER BY w.id LIMIT :n"
            ),
            {"after": after_wallet_id, "n": PAGE_SIZE},
        )
    ).all()
    if not wallets:
        return PageOutcome(0, None)
    figures = await _figures(session, report.month, [int(w.organization_id) for w in wallets])
    for wallet in wallets:
        await session.execute(
            text(
                "INSERT INTO monthly_report_organizations (report_id, organization_id, "
                "organization_name, figures) VALUES (:r, :o, :n, CAST(:f AS jsonb)) "
                "ON CONFLICT (report_id, organization_id) DO NOTHING"
            ),
            {
                "r": report.id,
                "o": wallet.organization_id,
                "n": wallet.name,
                "f": json.dumps(figures[int(wallet.organization_id)], sort_keys=True),
            },
        )
    return PageOutcome(len(wallets), int(wallets[-1].id))


async def conclude_report(session: AsyncSession, report: ReportHandle) -> None:
    """Add the organizations up into the totals and mark the report complete (once)."""
    rows = await session.scalars(
        text("SELECT figures FROM monthly_report_organizations WHERE report_id = :r"),
        {"r": report.id},
    )
    totals = add_figures(list(rows))
    await session.execute(
        text(
            "UPDATE monthly_reports SET totals = CAST(:t AS jsonb), status = 'complete', "
            "completed_at = now() WHERE id = :r AND status = 'building'"
        ),
        {"r": report.id, "t": json.dumps(totals, sort_keys=True)},
    )


def empty_figures() -> dict[str, Any]:
    return {
        "purchases": dict.fromkeys(COUNT_FIELDS, 0),
        "revenue": {},
        "tokens": dict.fromkeys(TOKEN_FIELDS, "0"),
        "subscriptions": dict.fromkeys(SUBSCRIPTION_FIELDS, 0),
    }


def add_figures(many: list[dict[str, Any]]) -> dict[str, Any]:
    total = empty_figures()
    money: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(MONEY_FIELDS, Decimal(0))
    )
    tokens = dict.fromkeys(TOKEN_FIELDS, Decimal(0))
    for figures in many:
        for field in COUNT_FIELDS:
            total["purchases"][field] += figures["purchases"][field]
        for field in SUBSCRIPTION_FIELDS:
            total["subscriptions"][field] += figures["subscriptions"][field]
        for field in TOKEN_FIELDS:
            tokens[field] += Decimal(figures["tokens"][field])
        for currency, amounts in figures["revenue"].items():
            for field in MONEY_FIELDS:
                money[currency][field] += Decimal(amounts[field])
    total["tokens"] = {field: _plain(value) for field, value in tokens.items()}
    total["revenue"] = {
        currency: {field: str(value.quantize(CENT)) for field, value in amounts.items()}
        for currency, amounts in sorted(money.items())
    }
    return total


def _plain(value: Decimal) -> str:
    text_value = format(value, "f")
    return text_value.rstrip("0").rstrip(".") if "." in text_value else text_value


async def _figures(
    session: AsyncSession, month: date, organizations: list[int]
) -> dict[int, dict[str, Any]]:
    start, end = month_bounds(month)
    params = {"start": start, "end": end, "orgs": organizations}
    figures = {org: empty_figures() for org in organizations}
    purchases = await session.execute(
        text(
            "SELECT organization_id AS org, status, purchase_type, currency, count(*) AS n, "
            "sum(total_amount) AS total, sum(subtotal_amount) AS net, sum(tax_amount) AS tax "
            "FROM token_purchases WHERE organization_id = ANY(:orgs) "
            "AND created_at >= :start AND created_at < :end "
            "AND status IN ('completed', 'failed', 'refunded') "
            "GROUP BY organization_id, status, purchase_type, currency"
        ),
        params,
    )
    for row in purchases:
        entry = figures[row.org]
        entry["purchases"][row.status] += int(row.n)
        if row.status != "completed":
            continue
        money = entry["revenue"].setdefault(row.currency, dict.fromkeys(MONEY_FIELDS, "0.00"))
        for field, amount in (("revenue", row.total), ("net_revenue", row.net), ("tax", row.tax),
                              (row.purchase_type, row.total)):  # fmt: skip
            money[field] = str(Decimal(money[field]) + amount)
    movements = await session.execute(
        text(
            "SELECT w.organization_id AS org, t.kind, sum(t.amount) AS tokens "
            "FROM ledger_transactions t JOIN organization_token_wallets w ON w.id = t.wallet_id "
            "WHERE w.organization_id = ANY(:orgs) AND t.created_at >= :start "
            "AND t.created_at < :end AND t.kind IN ('purchase', 'consumption', 'expiry') "
            "GROUP BY w.organization_id, t.kind"
        ),
        params,
    )
    names = {"purchase": "purchased", "consumption": "consumed", "expiry": "expired"}
    for row in movements:
        figures[row.org]["tokens"][names[row.kind]] = _plain(row.tokens)
    subscriptions = await session.execute(
        text(
            "SELECT organization_id AS org, "
            "count(*) FILTER (WHERE created_at >= :start AND created_at < :end) AS started, "
            "count(*) FILTER (WHERE cancelled_at >= :start AND cancelled_at < :end) AS cancelled, "
            "count(*) FILTER (WHERE status = 'active') AS active "
            "FROM token_subscriptions WHERE organization_id = ANY(:orgs) GROUP BY organization_id"
        ),
        params,
    )
    for row in subscriptions:
        figures[row.org]["subscriptions"] = {
            "started": int(row.started), "cancelled": int(row.cancelled), "active": int(row.active)
        }  # fmt: skip
    return figures


@dataclass(frozen=True)
class StoredReport:
    month: date
    status: str
    created_at: datetime
    completed_at: datetime | None
    totals: dict[str, Any] | None
    organizations: list[tuple[int, str, dict[str, Any]]]


async def list_reports(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[StoredReport], int]:
    """Reports newest month first, without their organization rows."""
    total = await session.scalar(text("SELECT count(*) FROM monthly_reports"))
    rows = await session.execute(
        text(
            "SELECT month, status, created_at, completed_at, totals FROM monthly_reports "
            "ORDER BY month DESC LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset},
    )
    reports = [
        StoredReport(r.month, r.status, r.created_at, r.completed_at, r.totals, []) for r in rows
    ]
    return reports, int(total or 0)


async def load_report(session: AsyncSession, month: date) -> StoredReport | None:
    row = (
        await session.execute(
            text(
                "SELECT id, month, status, created_at, completed_at, totals FROM monthly_reports "
                "WHERE month = :m"
            ),
            {"m": month},
        )
    ).one_or_none()
    if row is None:
        return None
    organizations = await session.execute(
        text(
            "SELECT organization_id, organization_name, figures FROM monthly_report_organizations "
            "WHERE report_id = :r ORDER BY organization_id"
        ),
        {"r": row.id},
    )
    return StoredReport(
        row.month, row.status, row.created_at, row.completed_at, row.totals,
        [(int(o.organization_id), o.organization_name, o.figures) for o in organizations],
    )  # fmt: skip
