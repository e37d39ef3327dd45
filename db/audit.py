"""The audit trail: every action that moves tokens or money, changes configuration, or is refused
for lack of permission. Rows are only ever inserted here, and searched by admins."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Text, cast, func, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenAuditLog
from db.models.base import PLATFORM_ORGANIZATION_KEY

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
        insert(TokenAuditLog).values(
            actor_type=actor.type,
            actor_id=actor.id,
            organization_id=(
                PLATFORM_ORGANIZATION_KEY if organization_id is None else organization_id
            ),
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            before=_jsonb(before),
            after=_jsonb(after),
            ip_address=context.ip_address if context else None,
            request_id=context.request_id if context else None,
        )
    )


def _jsonb(value: dict[str, Any] | None) -> ColumnElement[Any]:
    """The value as jsonb, with what JSON cannot hold (datetimes, decimals) written as text."""
    text = None if value is None else json.dumps(value, default=str, sort_keys=True)
    return cast(literal(text, Text), JSONB)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is searched by; `action` ending in `.` is a prefix."""

    actor_type: ActorType | None = None
    actor_id: str | None = None
    organization_id: int | None = None
    action: str | None = None
    outcome: Outcome | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        log = TokenAuditLog
        found: list[ColumnElement[bool]] = []
        if self.actor_type is not None:
            found.append(log.actor_type == self.actor_type)
        if self.actor_id is not None:
            found.append(log.actor_id == self.actor_id)
        if self.organization_id is not None:
            found.append(log.organization_id == self.organization_id)
        if self.action is not None and self.action.endswith("."):
            found.append(log.action.startswith(self.action, autoescape=True))
        elif self.action is not None:
            found.append(log.action == self.action)
        if self.outcome is not None:
            found.append(log.outcome == self.outcome)
        if self.created_from is not None:
            found.append(log.created_at >= self.created_from)
        if self.created_to is not None:
            found.append(log.created_at < self.created_to)
        return found


async def search_audit(
    session: AsyncSession, where: AuditFilter, *, limit: int, offset: int
) -> tuple[list[TokenAuditLog], int]:
    """One page of the matching records, newest first, and how many match in all."""
    query = select(TokenAuditLog).where(*where.conditions())
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenAuditLog.created_at.desc(), TokenAuditLog.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)
