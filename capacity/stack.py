"""The stack a capacity measurement runs on: the bench's (own PostgreSQL with fsync on, Temporal
dev server, one API process, one tokenbill worker, on free ports) without its baseline worker."""

from pathlib import Path

from bench.stack import BenchStack, StackOptions
from db.migrate import upgrade_to_head
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.devstack.temporal import LocalTemporal


def start_stack(folder: Path, environment: dict[str, str], spend_pool_size: int = 16) -> BenchStack:
    """Started servers; the caller stops them with `stop()` (also when this raises)."""
    stack = BenchStack(folder, StackOptions(1, spend_pool_size, environment))
    try:
        stack.postgres = LocalPostgres(folder / "postgres").start()
        stack.temporal = LocalTemporal(log_path=folder / "logs" / "temporal.log").start()
        upgrade_to_head(stack.postgres.url)
        stack.scale_to(1)
    except BaseException:
        stack.stop()
        raise
    return stack
