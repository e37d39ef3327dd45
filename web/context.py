"""What a console page reads from the running app: settings, a database session, the workflow
client, the request's audit context. The app's lifetime state is the API's (one app, one
lifespan)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.request_context import audit_context
from api.state import app_state
from db.audit import RequestContext
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient


def console_settings(request: Request) -> Settings:
    return app_state(request).settings


async def console_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).session_maker() as session:
        yield session


def console_workflows(request: Request) -> WorkflowClient:
    return app_state(request).workflows


def request_context(request: Request) -> RequestContext:
    return audit_context(request)


ConsoleSettings = Annotated[Settings, Depends(console_settings)]
DbSession = Annotated[AsyncSession, Depends(console_session)]
ConsoleWorkflows = Annotated[WorkflowClient, Depends(console_workflows)]
Context = Annotated[RequestContext, Depends(request_context)]
