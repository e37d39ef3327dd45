"""generateMonthlyReports on real Temporal: last month's report per organization, stored once,
downloadable as CSV and JSON."""

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

from activities.finance_reports import MonthlyReportActivities
from activities.job_runs import JobRunActivities
from db import ledger
from db.audit_retention import add_months
from db.session import create_owner_engine
from tests.api.helpers import ApiUser, Maker
from tests.finance_helpers import insert_purchase, insert_subscription, make_package
from tests.history_recording import record_histories
from tokenbill.settings import Settings
from workflows.finance_job_types import GENERATE_MONTHLY_REPORTS_WORKFLOW
from workflows.job_types import JobResult
from workflows.monthly_reports import GenerateMonthlyReportsWorkflow

MakeOrganization = Callable[..., Awaitable[int]]


async def _prepare_last_month(session_maker: Maker, owner_settings: Settings, org: int) -> datetime:
    first_of_last_month = add_months(datetime.now(UTC).date().replace(day=1), -1)
    at = datetime(first_of_last_month.year, first_of_last_month.month, 15, 12, tzinfo=UTC)
    package = await make_package(session_maker, "100", "0.50")
    reference = await insert_purchase(
        session_maker, organization_id=org, package_id=package, tokens="100", price="0.50",
        kind="one_time", status="completed", created_at=at,
    )  # fmt: skip
    await insert_purchase(
        session_maker, organization_id=org, package_id=package, tokens="100", price="0.50",
        kind="one_time", status="failed", created_at=at,
    )  # fmt: skip
    subscription = await insert_subscription(
        session_maker, organization_id=org, package_id=package, interval="P1M", status="active"
    )
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        credit = await ledger.credit(session, wallet_id=wallet, amount=Decimal("100"),
                                     idempotency_key=f"test:{reference}:credit",
                                     reference=reference)  # fmt: skip
        spend = await ledger.debit(session, wallet_id=wallet, amount=Decimal("30"),
                                   idempotency_key=f"test:{reference}:spend")  # fmt: skip
        await session.execute(
            text("UPDATE token_subscriptions SET created_at = :at WHERE id = :i"),
            {"at": at, "i": subscription},
        )
    # The ledger refuses UPDATE (a trigger); only a superuser skipping triggers can backdate it.
    engine = create_owner_engine(owner_settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(
                text("UPDATE ledger_transactions SET created_at = :at WHERE id IN (:c, :s)"),
                {"at": at, "c": credit.transaction_id, "s": spend.transaction_id},
            )
    finally:
        await engine.dispose()
    return at


async def _run_job(client: Client, task_queue: str, history: str | None = None) -> JobResult:
    workflow_id = f"job-generateMonthlyReports-test-{uuid.uuid4().hex[:8]}"
    result: JobResult = await client.execute_workflow(
        GENERATE_MONTHLY_REPORTS_WORKFLOW, id=workflow_id, task_queue=task_queue,
        result_type=JobResult,
    )  # fmt: skip
    if history is not None:
        await record_histories(client, workflow_id, history)
    return result


async def test_the_monthly_report_is_stored_once_and_downloads_as_csv_and_json(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker,
    make_organization: MakeOrganization, temporal_client: Client, db_settings: Settings,
):  # fmt: skip
    org = await make_organization('Report <Org>, "quoted"')
    at = await _prepare_last_month(session_maker, db_settings, org)
    month = f"{at.year:04d}-{at.month:02d}"
    task_queue = f"monthly-reports-{uuid.uuid4().hex[:8]}"
    activities = [
        *JobRunActivities(session_maker).definitions(),
        *MonthlyReportActivities(session_maker).definitions(),
    ]
    workflows = [GenerateMonthlyReportsWorkflow]
    async with Worker(temporal_client, task_queue=task_queue, workflows=workflows,
                      activities=activities):  # fmt: skip
        first = await _run_job(temporal_client, task_queue, "generate-monthly-reports")
        stored = await client.get(f"/api/tokens/finance/reports/{month}.json",
                                  headers=admin.headers())  # fmt: skip
        second = await _run_job(temporal_client, task_queue)
    again = await client.get(f"/api/tokens/finance/reports/{month}.json", headers=admin.headers())

    assert first.status == "succeeded" and first.counts.changed >= 1
    assert second.status == "succeeded" and second.counts.changed == 0
    assert stored.status_code == 200
    assert again.json() == stored.json()
    report = stored.json()
    mine = [o for o in report["organizations"] if o["organization_id"] == org]
    assert mine == [
        {
            "organization_id": org,
            "organization_name": 'Report <Org>, "quoted"',
            "figures": {
                "purchases": {"completed": 1, "failed": 1, "refunded": 0},
                "revenue": {"XTS": {"revenue": "58.00", "net_revenue": "50.00", "tax": "8.00",
                                    "one_time": "58.00", "subscription": "0.00",
                                    "auto_topup": "0.00"}},
                "tokens": {"purchased": "100", "consumed": "30", "expired": "0"},
                "subscriptions": {"started": 1, "cancelled": 0, "active": 1},
            },
        }
    ]  # fmt: skip
    listed = await client.get("/api/tokens/finance/reports", headers=admin.headers())
    assert [r["month"] for r in listed.json()["items"]][:1] == [month]

    download = await client.get(f"/api/tokens/finance/reports/{month}.csv", headers=admin.headers())
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    row = next(r for r in rows if r["organization_id"] == str(org))
    assert (row["organization_name"], row["currency"], row["revenue"], row["tokens_consumed"]) == (
        'Report <Org>, "quoted"', "XTS", "58.00", "30"
    )  # fmt: skip
    total = next(r for r in rows if r["organization_name"] == "All organizations" and
                 r["currency"] == "XTS")  # fmt: skip
    assert Decimal(total["revenue"]) >= Decimal("58.00")


async def test_a_month_without_a_report_is_not_found(client: httpx.AsyncClient, admin: ApiUser):
    response = await client.get("/api/tokens/finance/reports/1999-01.csv", headers=admin.headers())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "report_not_found"
