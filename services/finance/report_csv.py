"""A stored monthly report as CSV: one row per organization and currency, then the totals.

Token and subscription columns belong to the organization and repeat on each of its currency
rows. Text cells that a spreadsheet would run as a formula are prefixed with an apostrophe.
"""

import csv
import io
from typing import Any

from db.monthly_reports import MONEY_FIELDS, StoredReport, month_label

HEADER = [
    "month", "organization_id", "organization_name", "currency",
    "purchases_completed", "purchases_failed", "purchases_refunded",
    "revenue", "net_revenue", "tax", "one_time_revenue", "subscription_revenue",
    "auto_topup_revenue", "tokens_purchased", "tokens_consumed", "tokens_expired",
    "subscriptions_started", "subscriptions_cancelled", "subscriptions_active",
]  # fmt: skip
TOTAL_NAME = "All organizations"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _rows(month: str, org_id: str, name: str, figures: dict[str, Any]) -> list[list[str]]:
    purchases = figures["purchases"]
    tokens = figures["tokens"]
    subscriptions = figures["subscriptions"]
    revenue: dict[str, dict[str, str]] = figures["revenue"] or {
        "": dict.fromkeys(MONEY_FIELDS, "0.00")
    }
    return [
        [
            month,
            org_id,
            safe_cell(name),
            currency,
            str(purchases["completed"]),
            str(purchases["failed"]),
            str(purchases["refunded"]),
            *(money[field] for field in MONEY_FIELDS),
            tokens["purchased"],
            tokens["consumed"],
            tokens["expired"],
            str(subscriptions["started"]),
            str(subscriptions["cancelled"]),
            str(subscriptions["active"]),
        ]
        for currency, money in sorted(revenue.items())
    ]


def report_csv(report: StoredReport) -> str:
    month = month_label(report.month)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for organization in report.organizations:
        writer.writerows(
            _rows(
                month,
                str(organization.organization_id),
                organization.organization_name,
                organization.figures,
            )
        )
    if report.totals is not None:
        writer.writerows(_rows(month, "", TOTAL_NAME, report.totals))
    return out.getvalue()
