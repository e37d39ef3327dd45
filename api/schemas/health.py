"""The health answers: dependencies (readiness) and the process alone (liveness)."""

from typing import Literal

from pydantic import BaseModel

CheckStatus = Literal["up", "down"]


class HealthChecks(BaseModel):
    database: CheckStatus
    temporal: CheckStatus


class HealthOut(BaseModel):
    status: Literal["healthy", "unhealthy"]
    checks: HealthChecks
    token_system: Literal["enabled", "disabled"]


class LivenessOut(BaseModel):
    status: Literal["alive"]
