"""The worker process: serves what worker.registry lists and runs until SIGINT/SIGTERM."""

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from db.session import create_engine, create_session_maker
from tokenbill.settings import Settings, require_production_secrets
from tokenbill.temporal_connect import connect_temporal
from worker.outbox_relay import ensure_outbox_relay
from worker.registry import WORKFLOWS, build_activities
from worker.schedules import ensure_schedules
from worker.telemetry import worker_runtime
from worker.tuning import worker_tuning

logger = logging.getLogger("tokenbill.worker")


def build_worker(
    client: Client,
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    task_queue: str | None = None,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """A worker for every workflow and activity; `activities` replaces the built set if given."""
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=(
            list(activities)
            if activities is not None
            else build_activities(settings, session_maker, client)
        ),
        **worker_tuning(settings),
    )


def warn_about_private_webhooks(settings: Settings) -> None:
    if settings.webhook_allow_private_addresses:
        logger.warning(
            "WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on: webhooks may reach loopback, private and "
            "link-local addresses (internal services, cloud metadata); never in production"
        )


async def run_worker(settings: Settings) -> None:
    """Connect, serve the task queue until SIGINT or SIGTERM, then drain and shut down."""
    require_production_secrets(settings)
    warn_about_private_webhooks(settings)
    if not settings.temporal_address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set (tokenbill dev starts a local server)")
    client = await connect_temporal(settings, runtime=worker_runtime(settings))
    await ensure_schedules(client, settings)
    engine = create_engine(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        worker = build_worker(client, settings, create_session_maker(engine))
        async with worker:
            logger.info("worker serving task queue %s", worker.task_queue)
            await ensure_outbox_relay(client, settings)
            await stop.wait()
            logger.info("worker shutting down (up to %s for running activities)",
                        settings.worker_graceful_shutdown)  # fmt: skip
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await engine.dispose()
    logger.info("worker stopped")
