"""The resident memory of a process, sampled while a section runs (Linux /proc)."""

import asyncio
import contextlib
from pathlib import Path

SAMPLE_EVERY = 0.5


def resident_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


class PeakMemory:
    """The highest RSS sampled between start and stop; the kernel's peak over the process's
    whole life (VmHWM) beside it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.at_start_kib = resident_kib(pid)
        self.peak_kib = self.at_start_kib
        self.lifetime_peak_kib = self.at_start_kib
        self._task: asyncio.Task[None] | None = None

    def start(self) -> "PeakMemory":
        self._task = asyncio.create_task(self._sample())
        return self

    def now_kib(self) -> int:
        return resident_kib(self.pid)

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak_kib = max(self.peak_kib, resident_kib(self.pid))
        self.lifetime_peak_kib = resident_kib(self.pid, "VmHWM")
        return self.peak_kib

    async def _sample(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, resident_kib(self.pid))
            await asyncio.sleep(SAMPLE_EVERY)
