"""The stand-in's ASGI app: the routes of every resource module, one store, one set of faults."""

from types import ModuleType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenbill.devstack.stripe_standin import (
    balance_transactions,
    charges,
    customers,
    disputes,
    events,
    payment_intents,
    payment_methods,
    refunds,
    setup_intents,
)
from tokenbill.devstack.stripe_standin.errors import invalid_request
from tokenbill.devstack.stripe_standin.faults import FaultDice, StandinFaults
from tokenbill.devstack.stripe_standin.store import StandinStore

# One module per Stripe resource, each with `routes() -> list[Route]`. Add yours here.
RESOURCE_MODULES: tuple[ModuleType, ...] = (
    customers,
    payment_intents,
    charges,
    refunds,
    payment_methods,
    balance_transactions,
    setup_intents,
    disputes,
    events,
)


async def _health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _not_found(request: Request, _: Exception) -> Response:
    return (
        invalid_request(
            f"Unrecognized request URL ({request.method}: {request.url.path})."
        ).response()
        if request.url.path.startswith("/v1/")
        else JSONResponse({"detail": "Not Found"}, 404)
    )


def build_app(
    api_key: str,
    faults: StandinFaults | None = None,
    modules: tuple[ModuleType, ...] = RESOURCE_MODULES,
) -> Starlette:
    routes = [Route("/_standin/health", _health)]
    for module in modules:
        routes.extend(module.routes())
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    app.state.store = StandinStore(api_key=api_key)
    app.state.dice = FaultDice(faults or StandinFaults())
    for module in modules:
        # A module that listens to the store's changes (events) installs itself on it.
        install = getattr(module, "install", None)
        if install is not None:
            install(app.state.store)
    return app
