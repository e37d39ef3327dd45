"""run_worker in a process of its own serves purchases and stops cleanly on SIGTERM and SIGINT."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.purchase_helpers import Maker, create_package, insert_purchase, run_purchase
from tokenbill.settings import Settings

# Exit 0 only if run_worker returned after its graceful shutdown. os._exit skips interpreter
# finalisation, where the Temporal core's threads can abort the process (the DESIGN.md exit trap).
RUN_WORKER = (
    "import asyncio, os, sys\n"
    "from tokenbill.settings import Settings\n"
    "from worker.main import run_worker\n"
    "asyncio.run(run_worker(Settings(_env_file=None)))\n"
    "print('run_worker returned', flush=True)\n"
    "os._exit(0)\n"
)


def start_worker(settings: Settings, task_queue: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(
        DATABASE_URL=str(settings.database_url),
        TEMPORAL_ADDRESS=str(settings.temporal_address),
        TEMPORAL_TASK_QUEUE=task_queue,
        JWT_SECRET=settings.jwt_secret,
        WORKER_GRACEFUL_SHUTDOWN="PT5S",
    )
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", RUN_WORKER], env=env, stdout=log, stderr=subprocess.STDOUT
        )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_worker_process_serves_a_purchase_and_stops_cleanly_on_signal(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization,
    tmp_path: Path,
    stop_signal: signal.Signals,
):
    queue = f"worker-process-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    process = start_worker(settings, queue, log_path)
    try:
        purchase = await insert_purchase(
            session_maker, await make_organization(), await create_package(session_maker)
        )
        result = await asyncio.wait_for(run_purchase(temporal_client, queue, purchase), 60)
        assert (result.status, result.balance_after) == ("completed", Decimal("500"))
        process.send_signal(stop_signal)
        exit_code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert exit_code == 0, log
    assert "run_worker returned" in log
