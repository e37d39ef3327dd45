"""An HTTP client that behaves like a careful real one: a request that failed for a transport
reason (or a 5xx, a 429, a key still in progress) is sent again with the SAME Idempotency-Key,
until it gets a definitive answer or the client gives up."""

import asyncio
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIED_CODES = frozenset({"idempotency_request_in_progress"})


class GaveUp(Exception):
    """No definitive answer within the client's patience: the outcome is unknown to it."""


@dataclass
class ClientStats:
    requests: int = 0
    retries: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return str(code) if code is not None else None
        return None


class ResilientClient:
    """Spreads its requests over every API process in turn, as a load balancer would; a retry
    goes to the next one."""

    def __init__(
        self, base_urls: list[str], stats: ClientStats, *, patience: float = 120.0
    ) -> None:
        self._https = [httpx.AsyncClient(base_url=url, timeout=10.0) for url in base_urls]
        self._turn = itertools.count()
        self._stats = stats
        self._patience = patience

    async def close(self) -> None:
        for http in self._https:
            await http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        credential: str,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {credential}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience
        pause = 0.2
        while True:
            self._stats.requests += 1
            reason = await self._attempt(method, path, headers, body)
            if isinstance(reason, Answer):
                return reason
            self._stats.retries[reason] += 1
            if loop.time() > deadline:
                raise GaveUp(f"{method} {path} (key {idempotency_key}): last {reason}")
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 2.0)

    async def _attempt(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> Answer | str:
        """The definitive answer, or why the request must be sent again."""
        try:
            http = self._https[next(self._turn) % len(self._https)]
            response = await http.request(method, path, headers=headers, json=body)
        except httpx.TransportError as error:
            return f"transport:{type(error).__name__}"
        try:
            parsed: Any = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        answer = Answer(response.status_code, parsed)
        if response.status_code >= 500 or response.status_code == 429:
            return f"http_{response.status_code}"
        if answer.error_code in RETRIED_CODES:
            return answer.error_code or "in_progress"
        return answer
