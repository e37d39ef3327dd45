"""Running the stand-in: uvicorn on 127.0.0.1, in a thread (tests) or as a process (`python -m`)."""

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from tokenbill.devstack.stripe_standin.app import build_app
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.store import StandinStore

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class StandinServer:
    """The stand-in in a background thread: `with StandinServer(key) as server: server.url`."""

    def __init__(self, api_key: str, *, port: int = 0, faults: StandinFaults | None = None) -> None:
        self.app: Starlette = build_app(api_key, faults)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(
            self.app, host=HOST, port=self.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="stripe-standin", daemon=True)

    @property
    def store(self) -> StandinStore:
        store: StandinStore = self.app.state.store
        return store

    def start(self) -> "StandinServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Stripe stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> "StandinServer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
