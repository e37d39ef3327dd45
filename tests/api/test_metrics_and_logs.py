"""/metrics in Prometheus format, and JSON log lines with request ids in the log files."""

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.api.helpers import ApiUser, Maker, new_request_id
from tests.finance_helpers import insert_purchase, make_package
from tokenbill.logging_setup import setup_logging
from tokenbill.settings import Settings

SEED_METRICS = (
    "tokenbill_wallet_balance_average",
    "tokenbill_wallet_balance_minimum",
    "tokenbill_wallet_balance_maximum",
    "tokenbill_purchases_completed_total",
    "tokenbill_purchase_revenue_total",
    "tokenbill_active_subscriptions",
    "tokenbill_wallets_under_low_threshold",
    "tokenbill_unusual_purchase_alerts_total",
    "tokenbill_job_runs_total",
    "tokenbill_job_failures_total",
    "tokenbill_job_last_run_wallets",
    "tokenbill_reconciliation_mismatches",
    "tokenbill_reconciliation_mismatches_found_total",
    "tokenbill_http_request_duration_seconds",
)


async def test_metrics_expose_the_seed_figures_and_latency_by_route_template(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
):  # fmt: skip
    org = await make_organization()
    package = await make_package(session_maker, "100", "0.50")
    await insert_purchase(
        session_maker, organization_id=org, package_id=package, tokens="100", price="0.50",
        kind="one_time", status="completed", created_at=datetime.now(UTC),
    )  # fmt: skip
    async with session_maker() as session, session.begin():
        await session.execute(
            text("INSERT INTO job_runs (job_name, workflow_id, status) VALUES "
                 "('generateMonthlyReports', :wf, 'failed')"),
            {"wf": f"job-generateMonthlyReports-{new_request_id()}"},
        )  # fmt: skip
    await client.get("/api/tokens/invoices/TOK-2026-424242", headers=admin.headers())

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in SEED_METRICS:
        assert f"\n# TYPE {name} " in response.text, name
    assert 'route="/api/tokens/invoices/{invoice_number}"' in response.text
    assert "TOK-2026-424242" not in response.text
    assert 'tokenbill_purchases_completed_total{currency="XTS",kind="one_time"}' in response.text
    assert 'tokenbill_job_failures_total{job="generateMonthlyReports"}' in response.text


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_log_lines_are_json_with_the_request_id_in_app_and_error_logs(
    client: httpx.AsyncClient, admin: ApiUser, api_settings: Settings, tmp_path: Path,
    restored_logging: None,
):  # fmt: skip
    setup_logging(api_settings.model_copy(update={"log_dir": str(tmp_path)}), "api")
    request_id = new_request_id()

    await client.get("/api/tokens/packages", headers=admin.headers(**{"X-Request-ID": request_id}))
    logging.getLogger("tokenbill.test").error("something broke", extra={"order": 7})

    access = [e for e in _lines(tmp_path / "app.log") if e.get("request_id") == request_id]
    assert access and access[-1]["logger"] == "tokenbill.http"
    assert access[-1]["route"] == "/api/tokens/packages"
    assert access[-1]["status"] == 200
    errors = _lines(tmp_path / "error.log")
    assert [(e["level"], e["message"], e["order"]) for e in errors] == [
        ("ERROR", "something broke", 7)
    ]
