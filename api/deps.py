"""The dependencies routes declare, once: the request's database session, the settings, the
workflow client, the spending state, and the path parameters several resources share."""

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.schemas.common import MAX_ROW_ID
from api.spending_state import SpendingState
from api.state import get_session, get_session_maker, get_settings, get_spending, get_workflows
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient

Session = Annotated[AsyncSession, Depends(get_session)]
"""One session per request; whatever a route did not commit is rolled back at the end."""
SessionMaker = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_maker)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Workflows = Annotated[WorkflowClient, Depends(get_workflows)]


async def _spending(request: Request) -> SpendingState:
    """`get_spending` as a coroutine: FastAPI runs a plain function dependency in its thread
    pool, a hop that cost the spend path about a tenth of its time (py-spy)."""
    return get_spending(request)


Spending = Annotated[SpendingState, Depends(_spending)]
OrganizationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Organization id.")]
