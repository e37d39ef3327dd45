"""The worker's Prometheus endpoint: the Temporal SDK's own metrics on WORKER_METRICS_PORT."""

import asyncio
import socket
import urllib.request

from temporalio.client import Client

from tokenbill.settings import Settings
from worker.telemetry import worker_runtime
from workflows.converter import DATA_CONVERTER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


async def test_the_worker_runtime_serves_temporal_sdk_metrics(settings: Settings):
    port = _free_port()
    runtime = worker_runtime(settings.model_copy(update={"worker_metrics_port": port}), "127.0.0.1")
    assert runtime is not None
    assert settings.temporal_address is not None
    client = await Client.connect(
        settings.temporal_address, data_converter=DATA_CONVERTER, runtime=runtime
    )
    await client.count_workflows()

    body = await asyncio.to_thread(_scrape, f"http://127.0.0.1:{port}/metrics")

    assert "temporal_request" in body


def test_a_zero_port_leaves_the_worker_without_a_metrics_endpoint(settings: Settings):
    assert worker_runtime(settings.model_copy(update={"worker_metrics_port": 0})) is None
