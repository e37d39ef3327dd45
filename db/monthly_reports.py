"""generateMonthlyReports' bookkeeping: a report per month, filled organization by organization.

A report is `building` until every wallet page is in, then `complete`; a complete report is never
rewritten, so running the job again for a month changes nothing. Figures are exact decimals kept
as strings; money is per currency.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit_retention import add_months
from db.models import (
    LedgerTransaction,
    MonthlyReport,
    MonthlyReportOrganization,
    Organization,
    OrganizationTokenWallet,
    TokenPurchase,
    TokenSubscription,
)
from domain.amounts import plain_decimal

PAGE_SIZE = 200
CENT = Decimal("0.01")
MONEY_FIELDS = ("revenue", "net_revenue", "tax", "one_time", "subscription", "auto_topup")
TOKEN_FIELDS = ("purchased", "consumed", "expired")
COUNT_FIELDS = ("completed", "failed", "refunded")
SUBSCRIPTION_FIELDS = ("started", "cancelled", "active")
_TOKEN_FIELD_OF_KIND = {"purchase": "purchased", "consumption": "consumed", "expiry": "expired"}


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


_HANDLE = (MonthlyReport.id, MonthlyReport.month, MonthlyReport.status == "complete")


async def begin_report(session: AsyncSession, *, month: date, workflow_id: str) -> ReportHandle:
    """The month's report row, created on first need."""
    await session.execute(
        insert(MonthlyReport)
        .values(month=month, workflow_id=workflow_id)
        .on_conflict_do_nothing(index_elements=[MonthlyReport.month])
    )
    row = (await session.execute(select(*_HANDLE).where(MonthlyReport.month == month))).one()
    return ReportHandle(*row)


async def load_handle(session: AsyncSession, report_id: int) -> ReportHandle:
    row = (await session.execute(select(*_HANDLE).where(MonthlyReport.id == report_id))).one()
    return ReportHandle(*row)


@dataclass(frozen=True)
class PageOutcome:
    organizations: int
    last_wallet_id: int | None


async def fill_page(
    session: AsyncSession, report: ReportHandle, after_wallet_id: int
) -> PageOutcome:
    """Write the figures of the organizations of the next page of wallets."""
    wallet = OrganizationTokenWallet
    wallets = (
        await session.execute(
            select(wallet.id, wallet.organization_id, Organization.name)
            .join(Organization, Organization.id == wallet.organization_id)
            .where(wallet.id > after_wallet_id)
            .order_by(wallet.id)
            .limit(PAGE_SIZE)
        )
    ).all()
    if not wallets:
        return PageOutcome(0, None)
    figures = await _figures(session, report.month, [w.organization_id for w in wallets])
    await session.execute(
        insert(MonthlyReportOrganization)
        .values(
            [
                {
                    "report_id": report.id,
                    "organization_id": w.organization_id,
                    "organization_name": w.name,
                    "figures": figures[w.organization_id],
                }
                for w in wallets
            ]
        )
        .on_conflict_do_nothing(
            index_elements=[
                MonthlyReportOrganization.report_id,
                MonthlyReportOrganization.organization_id,
            ]
        )
    )
    return PageOutcome(len(wallets), wallets[-1].id)


async def conclude_report(session: AsyncSession, report: ReportHandle) -> None:
    """Add the organizations up into the totals and mark the report complete (once)."""
    rows = await session.scalars(
        select(MonthlyReportOrganization.figures).where(
            MonthlyReportOrganization.report_id == report.id
        )
    )
    await session.execute(
        update(MonthlyReport)
        .where(MonthlyReport.id == report.id, MonthlyReport.status == "building")
        .values(totals=add_figures(list(rows)), status="complete", completed_at=func.now())
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
    total["tokens"] = {field: plain_decimal(value) for field, value in tokens.items()}
    total["revenue"] = {
        currency: {field: str(value.quantize(CENT)) for field, value in amounts.items()}
        for currency, amounts in sorted(money.items())
    }
    return total


async def _figures(
    session: AsyncSession, month: date, organizations: list[int]
) -> dict[int, dict[str, Any]]:
    start, end = month_bounds(month)
    figures = {org: empty_figures() for org in organizations}
    purchase = TokenPurchase
    purchases = await session.execute(
        select(
            purchase.organization_id, purchase.status, purchase.purchase_type, purchase.currency,
            func.count(), func.sum(purchase.total_amount), func.sum(purchase.subtotal_amount),
            func.sum(purchase.tax_amount),
        )
        .where(
            purchase.organization_id.in_(organizations),
            purchase.created_at >= start, purchase.created_at < end,
            purchase.status.in_(COUNT_FIELDS),
        )
        .group_by(
            purchase.organization_id, purchase.status, purchase.purchase_type, purchase.currency
        )
    )  # fmt: skip
    for org, status, purchase_type, currency, count, total, net, tax in purchases:
        entry = figures[org]
        entry["purchases"][status] += count
        if status != "completed":
            continue
        money = entry["revenue"].setdefault(currency, dict.fromkeys(MONEY_FIELDS, "0.00"))
        for field, amount in (("revenue", total), ("net_revenue", net), ("tax", tax),
                              (purchase_type, total)):  # fmt: skip
            money[field] = str(Decimal(money[field]) + amount)
    wallet, movement = OrganizationTokenWallet, LedgerTransaction
    movements = await session.execute(
        select(wallet.organization_id, movement.kind, func.sum(movement.amount))
        .join(wallet, wallet.id == movement.wallet_id)
        .where(
            wallet.organization_id.in_(organizations),
            movement.created_at >= start,
            movement.created_at < end,
            movement.kind.in_(_TOKEN_FIELD_OF_KIND),
        )
        .group_by(wallet.organization_id, movement.kind)
    )
    for org, kind, tokens in movements:
        figures[org]["tokens"][_TOKEN_FIELD_OF_KIND[kind]] = plain_decimal(tokens)
    subscription = TokenSubscription
    subscriptions = await session.execute(
        select(
            subscription.organization_id,
            func.count().filter(subscription.created_at >= start, subscription.created_at < end),
            func.count().filter(
                subscription.cancelled_at >= start, subscription.cancelled_at < end
            ),
            func.count().filter(subscription.status == "active"),
        )
        .where(subscription.organization_id.in_(organizations))
        .group_by(subscription.organization_id)
    )
    for org, started, cancelled, active in subscriptions:
        figures[org]["subscriptions"] = {
            "started": started, "cancelled": cancelled, "active": active
        }  # fmt: skip
    return figures


@dataclass(frozen=True)
class StoredReport:
    month: date
    status: str
    created_at: datetime
    completed_at: datetime | None
    totals: dict[str, Any] | None
    organizations: list[MonthlyReportOrganization]

    @staticmethod
    def of(report: MonthlyReport, organizations: list[MonthlyReportOrganization]) -> "StoredReport":
        return StoredReport(
            report.month, report.status, report.created_at, report.completed_at, report.totals,
            organizations,
        )  # fmt: skip


async def list_reports(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[StoredReport], int]:
    """Reports newest month first, without their organization rows."""
    total = await session.scalar(select(func.count()).select_from(MonthlyReport))
    rows = await session.scalars(
        select(MonthlyReport).order_by(MonthlyReport.month.desc()).limit(limit).offset(offset)
    )
    return [StoredReport.of(report, []) for report in rows], int(total or 0)


async def load_report(session: AsyncSession, month: date) -> StoredReport | None:
    report = await session.scalar(select(MonthlyReport).where(MonthlyReport.month == month))
    if report is None:
        return None
    organizations = await session.scalars(
        select(MonthlyReportOrganization)
        .where(MonthlyReportOrganization.report_id == report.id)
        .order_by(MonthlyReportOrganization.organization_id)
    )
    return StoredReport.of(report, list(organizations))
