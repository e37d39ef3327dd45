"""Waking the outbox relay after a spend recorded events: best effort, off the request path.

The spend's events are already committed; if Temporal cannot be reached the relay's schedule
finds them later, so a failure is logged and forgotten. Nudges that arrive while one is in
flight are coalesced into one more, so a burst of crossings costs at most two signals.
"""

import asyncio
import logging

from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import wake_outbox_relay

logger = logging.getLogger("tokenbill.api.relay")
NUDGE_TIMEOUT_SECONDS = 10.0


class RelayNudger:
    def __init__(self, workflows: WorkflowClient) -> None:
        self._workflows = workflows
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def nudge(self) -> None:
        """Ask for a wake-up signal; returns at once."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def idle(self) -> None:
        """Wait for the nudges in flight (tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Let the nudge in flight finish (each attempt is bounded by NUDGE_TIMEOUT_SECONDS)."""
        await self.idle()

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await asyncio.wait_for(self._signal(), NUDGE_TIMEOUT_SECONDS)
            except Exception as exc:  # best effort: the relay's schedule catches what is left
                logger.warning("could not wake the outbox relay: %s", exc)
            if not self._again:
                return

    async def _signal(self) -> None:
        await wake_outbox_relay(self._workflows)
