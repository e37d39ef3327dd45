"""GET /metrics: Prometheus text format. The business figures are read from the database at
scrape time; HTTP latency comes from the API process itself. The worker's Temporal SDK metrics
are on the worker's own endpoint (WORKER_METRICS_PORT)."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.deps import Session, SettingsDep
from api.observability import HttpMetrics
from db.metrics_snapshot import MetricsSnapshot
from db.operations_metrics import OperationsMetrics
from services.administration import operations

router = APIRouter(tags=["observability"])


class SnapshotCollector(Collector):
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        for name, help_text, value in (
            ("tokenbill_wallets", "Token wallets", s.wallets),
            ("tokenbill_wallet_balance_average", "Average wallet balance (tokens)",
             s.balance_average),
            ("tokenbill_wallet_balance_minimum", "Smallest wallet balance (tokens)",
             s.balance_minimum),
            ("tokenbill_wallet_balance_maximum", "Largest wallet balance (tokens)",
             s.balance_maximum),
            ("tokenbill_wallets_under_low_threshold",
             "Wallets under their low-balance threshold (own, else TOKEN_LOW_BALANCE_THRESHOLD)",
             s.wallets_under_low_threshold),
            ("tokenbill_active_subscriptions", "Subscriptions in status active",
             s.active_subscriptions),
        ):  # fmt: skip
            yield GaugeMetricFamily(name, help_text, value=float(value))
        count = CounterMetricFamily(
            "tokenbill_purchases_completed", "Completed purchases", labels=["kind", "currency"]
        )
        revenue = CounterMetricFamily(
            "tokenbill_purchase_revenue",
            "Revenue (invoice totals) of completed purchases",
            labels=["kind", "currency"],
        )
        for purchase in s.purchases:
            count.add_metric([purchase.kind, purchase.currency], purchase.count)
            revenue.add_metric([purchase.kind, purchase.currency], float(purchase.revenue))
        yield count
        yield revenue
        yield CounterMetricFamily(
            "tokenbill_unusual_purchase_alerts",
            "Unusual purchase pattern alerts raised",
            value=s.unusual_purchase_alerts,
        )
        yield from operations_metric_families(s.operations)


def operations_metric_families(operations: OperationsMetrics) -> Iterator[Metric]:
    """Scheduled job runs and the reconciliation's findings, from the operations' tables."""
    runs = CounterMetricFamily(
        "tokenbill_job_runs", "Scheduled job runs by outcome", labels=["job", "status"]
    )
    failures = CounterMetricFamily(
        "tokenbill_job_failures", "Scheduled job runs that failed", labels=["job"]
    )
    last_run = GaugeMetricFamily(
        "tokenbill_job_last_run_wallets",
        "Wallets the last run of each job saw, changed and failed on",
        labels=["job", "count"],
    )
    for job, figures in sorted(operations.jobs.items()):
        for status, count in sorted(figures.runs_by_status.items()):
            runs.add_metric([job, status], count)
        failures.add_metric([job], figures.runs_by_status.get("failed", 0))
        for name, value in (
            ("seen", figures.last_seen),
            ("changed", figures.last_changed),
            ("failed", figures.last_failed),
        ):
            last_run.add_metric([job, name], value)
    yield runs
    yield failures
    yield last_run
    yield GaugeMetricFamily(
        "tokenbill_reconciliation_mismatches",
        "Mismatches the latest finished reconciliation run found (0 means the books agree)",
        value=operations.reconciliation_last_run_mismatches,
    )
    yield CounterMetricFamily(
        "tokenbill_reconciliation_mismatches_found",
        "Mismatches every reconciliation run has recorded",
        value=operations.reconciliation_mismatches_total,
    )


def http_metrics(request: Request) -> HttpMetrics:
    metrics = getattr(request.app.state, "http_metrics", None)
    assert isinstance(metrics, HttpMetrics), "create_app installs the HTTP metrics"
    return metrics


# Not in the OpenAPI document: it is for Prometheus, not API clients. No authentication, so
# serve it on the internal network only.
@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(
    session: Session,
    settings: SettingsDep,
    http: Annotated[HttpMetrics, Depends(http_metrics)],
) -> Response:
    snapshot = await operations.business_figures(
        session, default_low_threshold=settings.token_low_balance_threshold
    )
    business = CollectorRegistry(auto_describe=False)
    business.register(SnapshotCollector(snapshot))
    body = generate_latest(business) + generate_latest(http.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
