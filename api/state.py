"""What the app holds for its lifetime, and the dependencies that hand it to routes.

The dependencies routes declare are `async def`: FastAPI runs a plain `def` dependency in its
thread pool, a hop to a thread and back on every request for what is an attribute read. The plain
`get_*` functions are for code that already holds the request."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.auth.identity_provider import IdentityProvider
from api.auth.principal_cache import PrincipalCache
from api.spending_state import SpendingState
from db.spend_pool import SpendPool
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    session_maker: async_sessionmaker[AsyncSession]
    workflows: WorkflowClient
    spending: SpendingState
    identity_provider: IdentityProvider | None
    principals: PrincipalCache
    # Point reads (GET wallet, GET purchase): plain psycopg, autocommit, prepared statements.
    reads: SpendPool


def app_state(request: Request) -> AppState:
    state = getattr(request.app.state, "tokenbill", None)
    if not isinstance(state, AppState):
        raise RuntimeError("the app's lifespan has not run (serve it with uvicorn or run_api)")
    return state


def get_settings(request: Request) -> Settings:
    return app_state(request).settings


def get_session_maker(request: Request) -> async_sessionmaker[AsyncSession]:
    return app_state(request).session_maker


def get_workflows(request: Request) -> WorkflowClient:
    return app_state(request).workflows


def get_spending(request: Request) -> SpendingState:
    return app_state(request).spending


def get_identity_provider(request: Request) -> IdentityProvider | None:
    return app_state(request).identity_provider


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; whatever a route did not commit is rolled back at the end."""
    async with app_state(request).session_maker() as session:
        yield session


async def state_dependency(request: Request) -> AppState:
    return app_state(request)


async def settings_dependency(request: Request) -> Settings:
    return app_state(request).settings


async def session_maker_dependency(request: Request) -> async_sessionmaker[AsyncSession]:
    return app_state(request).session_maker


async def workflows_dependency(request: Request) -> WorkflowClient:
    return app_state(request).workflows


async def spending_dependency(request: Request) -> SpendingState:
    return app_state(request).spending


async def reads_dependency(request: Request) -> SpendPool:
    return app_state(request).reads
