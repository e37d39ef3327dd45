"""The FastAPI application: routers, error shape, middleware, and the lifespan that owns the
database engine and the Temporal connection."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth.identity_provider import IdentityProvider
from api.auth.principal_cache import PrincipalCache
from api.errors import install_error_handlers
from api.heap import settle_startup_heap
from api.middleware import (
    TOKENS_PREFIX,
    BodyGuardMiddleware,
    RequestIdMiddleware,
    TokenSystemSwitchMiddleware,
)
from api.observability import HttpMetrics, ObservabilityMiddleware
from api.openapi_errors import document_common_errors
from api.prefix_router import PrefixRouter
from api.routes import TOKENS, UNPREFIXED
from api.spending_state import SpendingState
from api.state import AppState
from db.session import create_engine, create_session_maker
from db.spend_pool import create_spend_pool
from tokenbill.settings import Settings, get_settings
from tokenbill.workflow_client import WorkflowClient
from web.console import install_console

DESCRIPTION = """Organisational token wallets: packages, purchases, wallets and invoices.

Authenticate with `Authorization: Bearer <JWT>` (`tokenbill token EMAIL` prints one). Each route
states the permission it needs (`tokens.view`, `tokens.purchase`, `tokens.configure`,
`tokens.consume`, `tokens.finance`, or the admin role; admins pass every check). The spend routes
also take a service API key in the same header, `Authorization: Bearer tbk_...`
(`tokenbill apikey create`).
Errors are `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        reads = create_spend_pool(settings, size=settings.database_pool_size, name="read")
        await reads.open(wait=False)
        temporal = WorkflowClient(settings)
        spending = await SpendingState.open(settings, temporal)
        identity_provider = IdentityProvider.from_settings(settings)
        app.state.tokenbill = AppState(
            settings=settings,
            engine=engine,
            session_maker=create_session_maker(engine),
            workflows=temporal,
            spending=spending,
            identity_provider=identity_provider,
            principals=PrincipalCache(settings.principal_cache_ttl.total_seconds()),
            reads=reads,
        )
        settle_startup_heap()
        try:
            yield
        finally:
            if identity_provider is not None:
                await identity_provider.close()
            app.state.tokenbill.principals.close()
            await spending.close()
            await reads.close()
            await engine.dispose()

    # /docs and /redoc are the console's pages, with their assets served from this app.
    app = FastAPI(
        title="tokenbill", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,
    )  # fmt: skip
    install_error_handlers(app)
    document_common_errors(app)
    app.state.http_metrics = HttpMetrics()
    for router in UNPREFIXED:
        app.include_router(router)
    tokens = PrefixRouter(prefix=TOKENS_PREFIX)
    for router in TOKENS:
        tokens.include_router(router)
    app.include_router(tokens)
    install_console(app)
    # Added last runs first: request id, then latency and access log, then the body guard,
    # then the token-system switch.
    app.add_middleware(TokenSystemSwitchMiddleware, enabled=settings.enable_token_system)
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.http_metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
