"""`tokenbill dev` as a user runs it: in a fresh folder, on its own ports (so it runs beside another
stack), stopped with Ctrl-C or SIGTERM, started again on the same data."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from temporalio.client import Client

from api.auth.jwt_tokens import user_id_from_token
from tokenbill.devstack.ports import free_port
from tokenbill.devstack.stripe_standin.process import STANDIN_API_KEY
from tokenbill.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")
READY = "Press Ctrl-C to stop."


@dataclass(frozen=True)
class Ports:
    postgres: int
    temporal: int
    temporal_ui: int
    api: int

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres}/tokenbill"


@dataclass
class DevRun:
    process: subprocess.Popen[bytes]
    folder: Path
    run: int

    @property
    def stdout(self) -> str:
        return (self.folder / f"dev-{self.run}.out").read_text()

    @property
    def stderr(self) -> str:
        return (self.folder / f"dev-{self.run}.err").read_text()

    def wait_until_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while READY not in self.stdout:
            status = self.process.poll()
            assert status is None, f"tokenbill dev exited ({status}): {self.stdout}{self.stderr}"
            assert time.monotonic() < deadline, f"not ready in time: {self.stdout}{self.stderr}"
            time.sleep(0.3)

    def admin_token(self) -> str:
        lines = self.stdout.splitlines()
        return lines[lines.index("Admin bearer token (admin@demo.test):") + 1].strip()

    def stop(self, sig: signal.Signals, timeout: float = 120.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def distinct_free_ports() -> Ports:
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(free_port())
    postgres, temporal, temporal_ui, api = sorted(ports)
    return Ports(postgres, temporal, temporal_ui, api)


def environment(ports: Ports) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(
        DEV_POSTGRES_PORT=str(ports.postgres),
        DEV_TEMPORAL_PORT=str(ports.temporal),
        DEV_TEMPORAL_UI_PORT=str(ports.temporal_ui),
        API_PORT=str(ports.api),
        LOG_LEVEL="INFO",
    )
    # No JWT_SECRET, as on a new machine: the stack makes one and keeps it in .data/.
    env.pop("JWT_SECRET", None)
    return env


def start_dev(folder: Path, ports: Ports, run: int) -> DevRun:
    out, err = folder / f"dev-{run}.out", folder / f"dev-{run}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [TOKENBILL, "dev"], cwd=folder, env=environment(ports), stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return DevRun(process, folder, run)


def processes_in(folder: Path) -> dict[int, str]:
    """Every process working in folder or below it, or in PostgreSQL's data folder (which, as
    root, .data/postgres may link to: see tokenbill/devstack/postgres_as_root.py)."""
    found: dict[int, str] = {}
    roots = (str(folder.resolve()), str((folder / ".data" / "postgres").resolve()))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if any(cwd == root or cwd.startswith(root + "/") for root in roots):
            found[int(entry.name)] = command
    return found


def assert_nothing_left(folder: Path) -> None:
    deadline = time.monotonic() + 10
    while (left := processes_in(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}, f"processes left behind: {left}"


def tokenbill(ports: Ports, *args: str) -> str:
    env = environment(ports) | {"DATABASE_URL": ports.database_url}
    result = subprocess.run(
        [TOKENBILL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def user_id(ports: Ports, email: str) -> int:
    with psycopg.connect(ports.database_url) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return int(row[0])


async def start_a_workflow(ports: Ports) -> str:
    """A workflow no worker runs: it stays open, in the Temporal server's state file."""
    client = await Client.connect(f"127.0.0.1:{ports.temporal}")
    workflow_id = f"kept-across-restarts-{uuid.uuid4()}"
    await client.start_workflow("NoWorkerRunsThis", id=workflow_id, task_queue="nobody-polls")
    return workflow_id


async def find_and_end_the_workflow(ports: Ports, workflow_id: str) -> None:
    client = await Client.connect(f"127.0.0.1:{ports.temporal}")
    handle = client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).id == workflow_id
    await handle.terminate("end of test")


def assert_demo_user_signs_in_to_the_console(port: int, email: str, password: str) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
        form = browser.get("/sign-in")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post(
            "/sign-in", data={"email": email, "password": password, "csrf_token": csrf}
        )
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/tokens")
        assert "Demo Health Insurer" in browser.get("/tokens").text


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """The stack's working folder; whatever a failed test left running there is stopped."""
    yield tmp_path
    for pid in processes_in(tmp_path):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_dev_stack_serves_stops_without_orphans_and_keeps_its_data(folder: Path) -> None:
    ports = distinct_free_ports()
    first = start_dev(folder, ports, run=1)
    first.wait_until_ready()

    assert httpx.get(f"http://127.0.0.1:{ports.api}/api/health", timeout=10).status_code == 200
    out = first.stdout
    assert f"API          http://localhost:{ports.api}" in out
    assert f"API docs     http://localhost:{ports.api}/docs" in out
    assert f"Temporal UI  http://localhost:{ports.temporal_ui}" in out
    assert f"Console      http://localhost:{ports.api}/" in out
    assert "password tokenbill-demo for every demo user" in out
    assert_demo_user_signs_in_to_the_console(ports.api, "buyer@demo.test", "tokenbill-demo")
    token = first.admin_token()
    kept_secret = (folder / ".data" / "jwt-secret").read_text().strip()
    settings = Settings(_env_file=None, jwt_secret=kept_secret)
    assert user_id_from_token(settings, token) == user_id(ports, "admin@demo.test")
    business = httpx.get(
        f"http://127.0.0.1:{ports.api}/api/tokens/packages/2",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert business.status_code == 200
    assert business.json()["name"] == "Business Pack"
    assert (folder / ".data" / "postgres" / "PG_VERSION").exists()
    assert (folder / ".data" / "temporal.db").exists()
    for log in ("worker.log", "api.log", "temporal.log"):
        assert (folder / "logs" / log).exists(), log

    commands = " | ".join(processes_in(folder).values())
    for part in ("tokenbill.cli worker", "tokenbill.cli api", "server start-dev", "postgres"):
        assert part in commands, part

    tokenbill(ports, "org", "create", "Kept Across Restarts")
    beside = subprocess.run(
        [TOKENBILL, "token", "buyer@demo.test"], cwd=folder, env=environment(ports),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert beside.returncode == 0, "the CLI finds the dev database without DATABASE_URL"
    assert user_id_from_token(settings, beside.stdout.strip()) == user_id(ports, "buyer@demo.test")
    wallet = httpx.get(
        f"http://127.0.0.1:{ports.api}/api/tokens/wallet/1",
        headers={"Authorization": f"Bearer {beside.stdout.strip()}"},
        timeout=10,
    )
    assert wallet.status_code == 200, "a token made beside the stack is one its API accepts"
    workflow_id = asyncio.run(start_a_workflow(ports))

    assert first.stop(signal.SIGINT) == 0
    assert first.stdout.rstrip().endswith("stopped")
    assert_nothing_left(folder)

    second = start_dev(folder, ports, run=2)
    second.wait_until_ready()
    organizations = tokenbill(ports, "org", "list")
    assert organizations.count("Kept Across Restarts") == 1
    assert organizations.count("Demo Health Insurer") == 1
    with psycopg.connect(ports.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM token_packages").fetchone() == (4,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (3,)
    asyncio.run(find_and_end_the_workflow(ports, workflow_id))

    assert second.stop(signal.SIGTERM) == 0
    assert_nothing_left(folder)


def test_a_child_that_dies_brings_the_stack_down(folder: Path) -> None:
    ports = distinct_free_ports()
    run = start_dev(folder, ports, run=1)
    run.wait_until_ready()
    [worker] = [pid for pid, cmd in processes_in(folder).items() if "tokenbill.cli worker" in cmd]
    os.kill(worker, signal.SIGKILL)

    assert run.process.wait(timeout=120) == 1
    assert "tokenbill: error: the worker stopped on its own (killed by SIGKILL)" in run.stderr
    assert_nothing_left(folder)


def test_a_busy_port_gets_a_clear_message(folder: Path) -> None:
    ports = distinct_free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.postgres))
        taken.listen()
        run = start_dev(folder, ports, run=1)
        assert run.process.wait(timeout=60) == 1
    assert run.stderr.strip().splitlines() == [
        f"tokenbill: error: port {ports.postgres} (PostgreSQL) is already in use; another "
        f"`tokenbill dev` may be running. Stop it, or set DEV_POSTGRES_PORT to a free port "
        f"(or DATABASE_URL to use a running server)"
    ]
    assert not (folder / ".data" / "postgres").exists()
    assert_nothing_left(folder)


def test_dev_stack_on_stripe_charges_through_the_local_stand_in(folder: Path) -> None:
    ports = distinct_free_ports()
    standin_port = free_port()
    out, err = folder / "dev-1.out", folder / "dev-1.err"
    env = environment(ports) | {
        "PAYMENT_GATEWAY": "stripe", "DEV_STRIPE_STANDIN_PORT": str(standin_port),
    }  # fmt: skip
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [TOKENBILL, "dev"], cwd=folder, env=env, stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    run = DevRun(process, folder, 1)
    run.wait_until_ready()
    assert f"starting the Stripe stand-in on 127.0.0.1:{standin_port}" in run.stdout
    buyer = subprocess.run(
        [TOKENBILL, "token", "buyer@demo.test"], cwd=folder, env=environment(ports),
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    api = f"http://127.0.0.1:{ports.api}"
    headers = {"Authorization": f"Bearer {buyer}"}
    accepted = httpx.post(
        f"{api}/api/tokens/purchases",
        json={"organization_id": 1, "package_id": 1, "payment_method": "pm_card_visa"},
        headers=headers | {"Idempotency-Key": "dev-stripe-1"},
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    reference = accepted.json()["purchase_reference_id"]
    purchase = httpx.get(
        f"{api}/api/tokens/purchases/{reference}", params={"wait_seconds": 30},
        headers=headers, timeout=60,
    ).json()  # fmt: skip
    assert purchase["status"] == "completed", purchase
    intents = httpx.get(
        f"http://127.0.0.1:{standin_port}/v1/payment_intents",
        headers={"Authorization": f"Bearer {STANDIN_API_KEY}"},
        timeout=10,
    ).json()["data"]
    assert [(i["status"], i["metadata"]["reference"]) for i in intents] == [
        ("succeeded", reference)
    ]

    assert run.stop(signal.SIGINT) == 0
    assert_nothing_left(folder)
