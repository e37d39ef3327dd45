"""Seed data: the standard token packages, and the demo organization with its users.

Both are idempotent: what already exists (by package name, organization id, user email) is left
exactly as it is, so seeding twice changes nothing.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, write_audit
from db.directory import CONFIGURE, PURCHASE, VIEW, Role, create_user, find_user_by_email
from db.models import Organization
from tokenbill.settings import Settings

SEED_ACTOR = Actor.system("seed")


@dataclass(frozen=True)
class PackageSpec:
    name: str
    token_quantity: Decimal
    description: str


STANDARD_PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("Starter Pack", Decimal(100), "100 tokens to get started"),
    PackageSpec("Business Pack", Decimal(500), "500 tokens for regular use"),
    PackageSpec("Enterprise Pack", Decimal(2000), "2000 tokens for large organisations"),
    PackageSpec("Premium Pack", Decimal(5000), "5000 tokens for the heaviest users"),
)

DEMO_ORGANIZATION_ID = 1
DEMO_ORGANIZATION_NAME = "Demo Health Insurer"


@dataclass(frozen=True)
class DemoUser:
    email: str
    role: Role
    user_type: str | None
    organization_id: int | None
    permissions: tuple[str, ...]


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin@demo.test", "admin", None, None, (VIEW, PURCHASE, CONFIGURE)),
    DemoUser("buyer@demo.test", "user", "insurance", DEMO_ORGANIZATION_ID, (VIEW, PURCHASE)),
    DemoUser("viewer@demo.test", "user", None, DEMO_ORGANIZATION_ID, (VIEW,)),
)


class SeedConflict(Exception):
    """Existing data contradicts the seed (e.g. organization 1 is another organization)."""


@dataclass(frozen=True)
class SeedReport:
    created: tuple[str, ...]
    kept: tuple[str, ...]


async def seed_packages(session: AsyncSession, settings: Settings) -> SeedReport:
    """Create the standard packages priced at DEFAULT_TOKEN_PRICE per token; keep existing ones."""
    created: list[str] = []
    kept: list[str] = []
    for spec in STANDARD_PACKAGES:
        package_id = await session.scalar(
            text(
                "INSERT INTO token_packages (name, description, token_quantity, price_per_token, "
                "currency) VALUES (:name, :description, :quantity, :price, :currency) "
                "ON CONFLICT (name) DO NOTHING RETURNING id"
            ),
            {
                "name": spec.name,
                "description": spec.description,
                "quantity": spec.token_quantity,
                "price": settings.default_token_price,
                "currency": settings.token_currency,
            },
        )
        if package_id is None:
            kept.append(f"package {spec.name}")
            continue
        created.append(f"package {spec.name}")
        await write_audit(
            session, actor=SEED_ACTOR, action="package.create", target_type="package",
            target_id=package_id,
            after={
                "name": spec.name, "token_quantity": str(spec.token_quantity),
                "price_per_token": str(settings.default_token_price),
                "currency": settings.token_currency,
            },
        )  # fmt: skip
    return SeedReport(tuple(created), tuple(kept))


async def seed_demo(session: AsyncSession) -> SeedReport:
    """Organization 1 ("Demo Health Insurer") and the admin, buyer and viewer demo users."""
    created: list[str] = []
    kept: list[str] = []
    existing = await session.get(Organization, DEMO_ORGANIZATION_ID)
    if existing is None:
        await session.execute(
            text("INSERT INTO organizations (id, name) VALUES (:id, :name)"),
            {"id": DEMO_ORGANIZATION_ID, "name": DEMO_ORGANIZATION_NAME},
        )
        await write_audit(
            session, actor=SEED_ACTOR, action="organization.create",
            organization_id=DEMO_ORGANIZATION_ID, target_type="organization",
            target_id=DEMO_ORGANIZATION_ID, after={"name": DEMO_ORGANIZATION_NAME},
        )  # fmt: skip
        created.append(f"organization {DEMO_ORGANIZATION_ID} {DEMO_ORGANIZATION_NAME}")
    elif existing.name != DEMO_ORGANIZATION_NAME:
        raise SeedConflict(
            f"organization {DEMO_ORGANIZATION_ID} already exists as {existing.name!r}; "
            "the demo data needs an empty database or its own earlier seed"
        )
    else:
        kept.append(f"organization {DEMO_ORGANIZATION_ID} {DEMO_ORGANIZATION_NAME}")
    await _move_organization_sequence_past_existing_ids(session)

    for user in DEMO_USERS:
        if await find_user_by_email(session, user.email) is not None:
            kept.append(f"user {user.email}")
            continue
        await create_user(
            session, email=user.email, role=user.role, user_type=user.user_type,
            organization_id=user.organization_id, permissions=user.permissions,
            actor=SEED_ACTOR,
        )  # fmt: skip
        created.append(f"user {user.email}")
    return SeedReport(tuple(created), tuple(kept))


async def _move_organization_sequence_past_existing_ids(session: AsyncSession) -> None:
    """The demo organization's id was given explicitly: the next generated id must not clash.

    The sequence only ever moves forward, so a second seed leaves it where it is.
    """
    highest = await session.scalar(select(Organization.id).order_by(Organization.id.desc()))
    sequence = await session.scalar(text("SELECT pg_get_serial_sequence('organizations', 'id')"))
    if highest is None or sequence is None:
        return
    row = (await session.execute(text(f"SELECT last_value, is_called FROM {sequence}"))).one()
    next_value = int(row.last_value) + 1 if row.is_called else int(row.last_value)
    if next_value <= highest:
        await session.execute(
            text("SELECT setval(CAST(:sequence AS regclass), :value, true)"),
            {"sequence": sequence, "value": highest},
        )
