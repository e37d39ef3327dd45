"""The worker's Prometheus endpoint: the Temporal SDK's own worker metrics (task slots, polls,
schedule-to-start latency, workflow and activity completions and failures by type), served by
the SDK's core on 0.0.0.0:WORKER_METRICS_PORT at /metrics."""

import logging

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from tokenbill.settings import Settings

logger = logging.getLogger("tokenbill.worker")


def worker_runtime(settings: Settings, host: str = "0.0.0.0") -> Runtime | None:
    """A runtime exporting metrics, or None (the default runtime) when the port is 0 or taken."""
    if settings.worker_metrics_port == 0:
        return None
    address = f"{host}:{settings.worker_metrics_port}"
    try:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=address, counters_total_suffix=True, durations_as_seconds=True
                )
            )
        )
    except Exception as exc:  # the core reports a busy port as a plain exception
        logger.warning("worker metrics not served on %s: %s", address, exc)
        return None
    logger.info("worker metrics on http://%s/metrics", address)
    return runtime
