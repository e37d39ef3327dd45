"""Waiting for a started API to answer its health check."""

import time
from collections.abc import Callable

import httpx


def wait_until_healthy(
    api_url: str,
    timeout: float = 60.0,
    *,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Poll GET /api/health until it answers 200; TimeoutError names the last answer.
    `while_waiting` runs between polls (e.g. to notice a child process that died)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if while_waiting is not None:
            while_waiting()
        try:
            response = httpx.get(f"{api_url}/api/health", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.2)
    raise TimeoutError(f"the API at {api_url} was not healthy within {timeout:.0f}s (last: {last})")
