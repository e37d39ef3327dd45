"""Audit records as the audit route shows them."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class AuditRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_type: str
    actor_id: str | None
    organization_id: int | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip_address: str | None
    request_id: str | None

    @field_validator("organization_id")
    @classmethod
    def _platform_action_has_no_organization(cls, value: int | None) -> int | None:
        # The audit log keeps a platform action under the key 0, which no organisation has
        # (docs/distributed-schema.md); the API says "no organisation" for it.
        return None if value == 0 else value
