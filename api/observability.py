"""Per-request observability: latency by route template, a JSON access log line, and the request
id made available to every log line written while the request runs."""

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenbill.logging_setup import request_id_var

logger = logging.getLogger("tokenbill.http")
UNMATCHED_ROUTE = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """The API process's own metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "tokenbill_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "tokenbill_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/tokens/invoices/{invoice_number}`), never the raw
    path, so the label set stays small.

    An included router's route knows its path below the router's prefix only; the prefixes are
    plain text, so they are the leading segments of the request path.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE
    segments = str(scope["path"]).split("/")
    prefix = segments[: len(segments) - len(template.split("/")) + 1]
    return "/".join(prefix) + template if len(prefix) > 1 else template


class ObservabilityMiddleware:
    """Runs inside RequestIdMiddleware, so the request id is already chosen."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        token = request_id_var.set(request_id if isinstance(request_id, str) else None)
        status = 500
        started = time.perf_counter()

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope["method"])
            self.metrics.latency.labels(method, route).observe(elapsed)
            self.metrics.requests.labels(method, route, str(status)).inc()
            logger.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={"method": method, "route": route, "path": scope["path"],
                       "status": status, "duration_ms": round(elapsed * 1000, 3)},
            )  # fmt: skip
            request_id_var.reset(token)
