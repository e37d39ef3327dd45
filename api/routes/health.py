"""GET /api/health: is each dependency reachable right now; GET /api/health/live: does this
process answer at all (touching neither the database nor Temporal)."""

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select

from api.schemas.health import CheckStatus, HealthChecks, HealthOut, LivenessOut
from api.state import AppState, state_dependency
from tokenbill.workflow_client import WorkflowUnavailable

logger = logging.getLogger("tokenbill.api.health")
router = APIRouter(tags=["health"])
DATABASE_TIMEOUT_SECONDS = 3.0


async def _database(state: AppState) -> CheckStatus:
    try:
        async with state.session_maker() as session:
            await asyncio.wait_for(session.execute(select(1)), DATABASE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to answer means down, whatever the driver raised
        logger.warning("health: database down: %s", exc)
        return "down"
    return "up"


async def _temporal(state: AppState) -> CheckStatus:
    try:
        await state.workflows.check()
    except WorkflowUnavailable as exc:
        logger.warning("health: temporal down: %s", exc)
        return "down"
    return "up"


@router.get(
    "/api/health",
    response_model=HealthOut,
    summary="Health of the API and its dependencies",
    description="No authentication. 200 `healthy` when PostgreSQL and Temporal answer, else "
    "503 `unhealthy`; `token_system` says whether ENABLE_TOKEN_SYSTEM is on.",
    responses={503: {"model": HealthOut, "description": "A dependency is down."}},
)
async def health(state: Annotated[AppState, Depends(state_dependency)]) -> JSONResponse:
    database, temporal = await asyncio.gather(_database(state), _temporal(state))
    healthy = database == "up" and temporal == "up"
    answer = HealthOut(
        status="healthy" if healthy else "unhealthy",
        checks=HealthChecks(database=database, temporal=temporal),
        token_system="enabled" if state.settings.enable_token_system else "disabled",
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=200 if healthy else 503)


@router.get("/api/health/live", response_model=LivenessOut, include_in_schema=False)
async def live() -> LivenessOut:
    """No authentication; always 200 `alive` while the process serves requests. It touches
    neither PostgreSQL nor Temporal, so their outage does not get the API restarted by a
    liveness probe (readiness is /api/health). Left out of the schema, like /metrics."""
    return LivenessOut(status="alive")
