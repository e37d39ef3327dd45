"""A webhook receiver for the run: answers most deliveries 200 and some 503, so deliveries are
retried and a few end failed, each with its delivery log."""

import asyncio
import random
from dataclasses import dataclass, field

from tokenbill.devstack.ports import free_port

CLOSING_HEADERS = b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class WebhookSink:
    failure_rate: float
    rng: random.Random
    port: int = field(default_factory=free_port)
    received: int = 0
    refused: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            self.received += 1
            failing = self.rng.random() < self.failure_rate
            self.refused += failing
            status = b"503 Service Unavailable" if failing else b"200 OK"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
