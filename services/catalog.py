"""What a purchase or a subscription names must be for sale: an active package."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenPackage
from services.errors import invalid


async def active_package(session: AsyncSession, package_id: int) -> TokenPackage:
    """The package named in a request, which must still be offered for sale."""
    package = await session.get(TokenPackage, package_id)
    if package is None:
        raise invalid("package_not_found", f"Package {package_id} does not exist.")
    if not package.is_active:
        raise invalid("package_inactive", f"Package {package_id} is no longer offered for sale.")
    return package
