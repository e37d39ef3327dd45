"""Writing the audit trail: every action that moves tokens or money, changes configuration, or
is refused for lack of permission. Rows are only ever inserted."""

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ActorType = Literal["user", "service", "system"]
Outcome = Literal["success", "denied", "failure"]


@dataclass(frozen=True)
class Actor:
    """Who acted: a user, an API key (service) or the system (workflows, jobs, CLI)."""

    type: ActorType
    id: str | None = None

    @staticmethod
    def user(user_id: int) -> "Actor":
        return Actor("user", str(user_id))

    @staticmethod
    def system(name: str = "tokenbill") -> "Actor":
        return Actor("system", name)


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    request_id: str | None = None


async def write_audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    organization_id: int | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    outcome: Outcome = "success",
    context: RequestContext | None = None,
) -> None:
    """Insert one audit record in the caller's transaction."""
    await session.execute(
        text(
            "INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, "
            "outcome, target_type, target_id, before, after, ip_address, request_id) VALUES "
            "(:actor_type, :actor_id, :org, :action, :outcome, :target_type, :target_id, "
            "CAST(:before AS jsonb), CAST(:after AS jsonb), :ip, :request_id)"
        ),
        {
            "actor_type": actor.type,
            "actor_id": actor.id,
            "org": organization_id,
            "action": action,
            "outcome": outcome,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "before": _json(before),
            "after": _json(after),
            "ip": context.ip_address if context else None,
            "request_id": context.request_id if context else None,
        },
    )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)
