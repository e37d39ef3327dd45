"""What the app holds for its lifetime, and the dependencies that hand it to routes."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.auth.identity_provider import IdentityProvider
from api.spending_state import SpendingState
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
