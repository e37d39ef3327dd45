"""The API under test: create_app(settings) served by uvicorn on a free port, in a thread."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from tokenbill.devstack.ports import free_port, wait_for_port
from tokenbill.settings import Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The base URL of the running app; the server stops (lifespan included) on exit."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fuzz-api", daemon=True)
    thread.start()
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
