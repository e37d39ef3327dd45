"""A Temporal client made on first need and remade after a failure, so the API starts (and
/api/health answers) while Temporal is down."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client, Interceptor

from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER

logger = logging.getLogger("tokenbill.api.temporal")
CONNECT_TIMEOUT = timedelta(seconds=5)
HEALTH_TIMEOUT = timedelta(seconds=3)


class TemporalUnavailable(Exception):
    """Temporal could not be reached."""


class TemporalConnector:
    """The API's one client; `interceptors` (tracing, a test's faults) see every call it makes."""

    def __init__(self, settings: Settings, interceptors: Sequence[Interceptor] = ()) -> None:
        self._settings = settings
        self._interceptors = interceptors
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The shared client, connecting now if there is none yet."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def check(self) -> None:
        """Raise TemporalUnavailable unless the server answers its health check."""
        client = await self.client()
        try:
            healthy = await client.service_client.check_health(timeout=HEALTH_TIMEOUT)
        except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
            raise TemporalUnavailable(str(exc)) from exc
        if not healthy:
            raise TemporalUnavailable("Temporal reports itself unhealthy")

    async def _connect(self) -> Client:
        address = self._settings.temporal_address
        if not address:
            raise TemporalUnavailable("TEMPORAL_ADDRESS is not set")
        try:
            return await asyncio.wait_for(
                Client.connect(
                    address,
                    namespace=self._settings.temporal_namespace,
                    data_converter=DATA_CONVERTER,
                    interceptors=self._interceptors,
                ),
                CONNECT_TIMEOUT.total_seconds(),
            )
        except Exception as exc:  # connection errors surface as RuntimeError from the core
            logger.warning("cannot connect to Temporal at %s: %s", address, exc)
            raise TemporalUnavailable(f"cannot connect to Temporal at {address}") from exc
