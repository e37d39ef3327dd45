"""The dependencies routes declare, once: the request's database session, the settings, the
workflow client, the spending state, and the path parameters several resources share."""

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.schemas.common import MAX_ROW_ID
from api.spending_state import SpendingState
from api.state import (
    get_session,
    reads_dependency,
    session_maker_dependency,
    settings_dependency,
    spending_dependency,
    workflows_dependency,
)
from db.spend_pool import SpendPool
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient

Session = Annotated[AsyncSession, Depends(get_session)]
"""One session per request; whatever a route did not commit is rolled back at the end."""
ReadPool = Annotated[SpendPool, Depends(reads_dependency)]
"""The point reads' pool (db/point_reads.py): one prepared statement, no session."""
SessionMaker = Annotated[async_sessionmaker[AsyncSession], Depends(session_maker_dependency)]
SettingsDep = Annotated[Settings, Depends(settings_dependency)]
Workflows = Annotated[WorkflowClient, Depends(workflows_dependency)]
Spending = Annotated[SpendingState, Depends(spending_dependency)]
OrganizationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Organization id.")]
