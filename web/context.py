"""What a console page reads from the running app: settings, a database session (and the maker,
for work counted in a transaction of its own), the workflow client, the request's audit context.
The app's lifetime state is the API's (one app, one lifespan)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.request_context import audit_context
from api.state import app_state, session_maker_dependency, workflows_dependency
from db.audit import RequestContext
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient


# `async def`: FastAPI would run a plain `def` dependency in its thread pool.
async def console_settings(request: Request) -> Settings:
    return app_state(request).settings


async def console_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).session_maker() as session:
        yield session


async def request_context(request: Request) -> RequestContext:
    return audit_context(request)


ConsoleSettings = Annotated[Settings, Depends(console_settings)]
DbSession = Annotated[AsyncSession, Depends(console_session)]
Context = Annotated[RequestContext, Depends(request_context)]
SessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(session_maker_dependency)]
WorkflowsDep = Annotated[WorkflowClient, Depends(workflows_dependency)]
