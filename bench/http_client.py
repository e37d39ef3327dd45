"""A minimal keep-alive HTTP/1.1 client for the benchmark: the load generator shares the machine
with the API and PostgreSQL, so it must cost far less per request than the server does."""

import asyncio
import json
from typing import Any


class KeepAliveConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @staticmethod
    async def open(host: str, port: int) -> "KeepAliveConnection":
        reader, writer = await asyncio.open_connection(host, port)
        return KeepAliveConnection(reader, writer)

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        payload = json.dumps(body, separators=(",", ":")).encode()
        return await self.request("POST", path, headers, payload)

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        return await self.request("GET", path, headers, None)

    async def request(
        self, method: str, path: str, headers: dict[str, str], payload: bytes | None
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
        if payload is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b""))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
