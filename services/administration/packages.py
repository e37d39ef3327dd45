"""The token package catalog: list and read (tokens.view); create, update, deactivate (platform
admins). A price change reaches new purchases only: subscriptions and automatic top-up policies
keep the terms they agreed to. Every change is audited with the package before and after, as
the caller's `view` writes a package (its answer without timestamps)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import packages
from db.audit import Actor, RequestContext
from db.models import TokenPackage
from services import audit
from services.errors import ServiceError, conflict, invalid, not_found

MAX_PACKAGE_PRICE = Decimal("1e15")
PackageView = Callable[[TokenPackage], dict[str, Any]]
"""A package as the audit trail keeps it."""


@dataclass(frozen=True)
class NewPackage:
    name: str
    description: str | None
    token_quantity: Decimal
    price_per_token: Decimal
    currency: str


async def list_packages(
    session: AsyncSession, *, include_inactive: bool, limit: int, offset: int
) -> tuple[list[TokenPackage], int]:
    return await packages.list_packages(
        session, include_inactive=include_inactive, limit=limit, offset=offset
    )


async def get_package(
    session: AsyncSession, package_id: int, *, for_update: bool = False
) -> TokenPackage:
    package = await packages.get_package(session, package_id, for_update=for_update)
    if package is None:
        raise not_found("package_not_found", f"Package {package_id} does not exist.")
    return package


async def create_package(
    session: AsyncSession,
    new: NewPackage,
    actor: Actor,
    context: RequestContext,
    view: PackageView,
) -> TokenPackage:
    _check_package_price(new.token_quantity, new.price_per_token)
    if await packages.name_taken(session, new.name):
        raise _name_conflict(new.name)
    package = TokenPackage(
        name=new.name,
        description=new.description,
        token_quantity=new.token_quantity,
        price_per_token=new.price_per_token,
        currency=new.currency,
    )
    session.add(package)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        raise _name_conflict(new.name) from exc
    await session.refresh(package)
    await _audit(session, actor, context, "package.create", package, None, view(package))
    return package


async def update_package(
    session: AsyncSession,
    package_id: int,
    changes: dict[str, Any],
    actor: Actor,
    context: RequestContext,
    view: PackageView,
) -> TokenPackage:
    """Change only the fields given; a change that changes nothing is not audited."""
    package = await get_package(session, package_id, for_update=True)
    _check_package_price(
        changes.get("token_quantity") or package.token_quantity,
        changes.get("price_per_token") or package.price_per_token,
    )
    name = changes.get("name")
    if name is not None and await packages.name_taken(session, name, except_id=package.id):
        raise _name_conflict(name)
    before = view(package)
    for field, value in changes.items():
        setattr(package, field, value)
    if view(package) != before:
        package.updated_at = datetime.now(UTC)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent rename to the same name won the race
            raise _name_conflict(name or package.name) from exc
        await session.refresh(package)
        await _audit(session, actor, context, "package.update", package, before, view(package))
    return package


async def deactivate_package(
    session: AsyncSession,
    package_id: int,
    actor: Actor,
    context: RequestContext,
    view: PackageView,
) -> TokenPackage:
    """It stays for the purchases that used it but can no longer be bought."""
    package = await get_package(session, package_id, for_update=True)
    if package.is_active:
        before = view(package)
        package.is_active = False
        package.updated_at = datetime.now(UTC)
        await session.flush()
        await session.refresh(package)
        await _audit(session, actor, context, "package.deactivate", package, before, view(package))
    return package


def _check_package_price(token_quantity: Decimal, price_per_token: Decimal) -> None:
    if token_quantity * price_per_token >= MAX_PACKAGE_PRICE:
        message = f"a package must cost less than {MAX_PACKAGE_PRICE:,.0f} before tax"
        raise invalid(
            "validation_error",
            f"body: {message}",
            {"errors": [{"field": "body", "message": message, "type": "value_error"}]},
        )


def _name_conflict(name: str) -> ServiceError:
    return conflict("package_name_taken", f"A package named {name!r} already exists.")


async def _audit(
    session: AsyncSession,
    actor: Actor,
    context: RequestContext,
    action: str,
    package: TokenPackage,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    target = audit.Target("token_package", package.id)
    await audit.record(session, actor, action, target, before, after, context)
