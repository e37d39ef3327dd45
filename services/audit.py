"""Recording what a command did in the audit trail: the one helper every service calls."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, Outcome, RequestContext, write_audit


@dataclass(frozen=True)
class Target:
    """The thing acted on: its type and id, and the organization it belongs to, if any."""

    type: str
    id: int | str
    organization_id: int | None = None


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: Target,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    context: RequestContext | None,
    *,
    outcome: Outcome = "success",
) -> None:
    """One audit row in the caller's transaction: who did `action` to `target`, with the state
    before and after."""
    await write_audit(
        session,
        actor=actor,
        action=action,
        organization_id=target.organization_id,
        target_type=target.type,
        target_id=target.id,
        before=before,
        after=after,
        outcome=outcome,
        context=context,
    )
