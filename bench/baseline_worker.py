"""The purchase baseline: a workflow of three no-op activities, served by a worker process of
the bench's own with the tokenbill worker's settings (client, data converter, tuning)."""

import asyncio
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from tokenbill.settings import Settings
from worker.tuning import worker_tuning
from workflows.converter import DATA_CONVERTER

BASELINE_WORKFLOW = "BenchNoopWorkflow"
BASELINE_TASK_QUEUE = "tokenbill-bench-baseline"
STEP = "bench_noop_step"
TIMEOUT = timedelta(seconds=15)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=0)


@activity.defn(name=STEP)
async def noop_step(reference: str) -> str:
    return reference


@workflow.defn(name=BASELINE_WORKFLOW)
class NoopWorkflow:
    @workflow.run
    async def run(self, reference: str) -> str:
        for _ in range(3):
            await workflow.execute_activity(
                STEP, reference, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )
        return reference


async def serve(settings: Settings) -> None:
    """Serve the baseline task queue until SIGINT or SIGTERM."""
    assert settings.temporal_address is not None
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=BASELINE_TASK_QUEUE,
        workflows=[NoopWorkflow],
        activities=[noop_step],
        **worker_tuning(settings),
    )
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(Settings()))
    # Leave without finalization: the Temporal core's threads can abort a finalizing interpreter.
    os._exit(0)
