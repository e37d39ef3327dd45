"""The token package catalog: reading packages, and the case-insensitive uniqueness of names."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenPackage


async def list_packages(
    session: AsyncSession, *, include_inactive: bool, limit: int, offset: int
) -> tuple[list[TokenPackage], int]:
    """One page, fewest tokens first, and how many there are in all."""
    query = select(TokenPackage)
    if not include_inactive:
        query = query.where(TokenPackage.is_active)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenPackage.token_quantity, TokenPackage.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def get_package(
    session: AsyncSession, package_id: int, *, for_update: bool = False
) -> TokenPackage | None:
    return await session.get(TokenPackage, package_id, with_for_update=for_update)


async def name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    """Whether another package has this name, ignoring case."""
    query = select(TokenPackage.id).where(func.lower(TokenPackage.name) == name.lower())
    if except_id is not None:
        query = query.where(TokenPackage.id != except_id)
    return (await session.scalar(query)) is not None
