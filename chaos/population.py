"""The run's organizations, people, credentials, packages and standing arrangements (webhooks,
subscriptions, auto top-up policies), created the way an operator and the clients would."""

import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.jwt_tokens import issue_token
from chaos.book import Book, OrgPlan
from chaos.cards import CARDS, ChaosCards
from chaos.client import ResilientClient
from db.api_keys import create_api_key
from db.audit import Actor
from db.directory import CONFIGURE, PURCHASE, VIEW, create_user
from tokenbill.settings import Settings

ROLES = ("topup", "buyer", "drained")
TOPUP_THRESHOLD = Decimal("150")
SUBSCRIPTION_INTERVAL = "PT3S"
ACTOR = Actor.system("chaos")


async def create_people(
    session_maker: async_sessionmaker[AsyncSession], settings: Settings, organizations: int
) -> tuple[list[OrgPlan], str, dict[str, int]]:
    """The organizations with a buyer's token each, a consume API key, and the two packages."""
    plans: list[OrgPlan] = []
    async with session_maker() as session, session.begin():
        packages = {
            name: await _package(session, name, quantity)
            for name, quantity in (("pack", 500), ("topup", 200))
        }
        for number in range(organizations):
            org = await session.scalar(
                text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
                {"n": f"Chaos Organization {number + 1}"},
            )
            assert org is not None
            user = await create_user(
                session,
                email=f"chaos-{number}-{uuid.uuid4().hex[:8]}@chaos.test",
                user_type="insurance",
                organization_id=int(org),
                permissions=[VIEW, PURCHASE, CONFIGURE],
                actor=ACTOR,
            )
            role = ROLES[number % len(ROLES)]
            threshold = TOPUP_THRESHOLD if role == "topup" else None
            plans.append(OrgPlan(int(org), issue_token(settings, user.id), role, threshold))
        _, api_key = await create_api_key(
            session,
            name="chaos platform",
            scopes=["tokens.consume"],
            organization_id=None,
            all_organizations=True,
            actor=ACTOR,
        )
    return plans, api_key, packages


async def _package(session: AsyncSession, name: str, quantity: int) -> int:
    found = await session.scalar(
        text(
            "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
            "VALUES (:n, :q, 0.50, 'USD') RETURNING id"
        ),
        {"n": f"Chaos {name} {uuid.uuid4().hex[:6]}", "q": quantity},
    )
    assert found is not None
    return int(found)


async def arrange(
    client: ResilientClient,
    plans: list[OrgPlan],
    packages: dict[str, int],
    book: Book,
    webhook_url: str,
    cards: ChaosCards = CARDS["sandbox"],
) -> None:
    """Webhooks for everyone, subscriptions, auto top-up policies."""
    for number, plan in enumerate(plans):
        webhook = await client.send(
            "POST",
            "/api/tokens/webhooks",
            credential=plan.token,
            body={"organization_id": plan.organization_id, "url": webhook_url},
            idempotency_key=uuid.uuid4().hex,
        )
        _require(webhook.accepted, f"webhook for {plan.organization_id}: {webhook.body}")
        # Buyers subscribe; so does the first drained organization, on a declining card. Top-up
        # organizations do not: their tokens come from automatic top-ups.
        if plan.role == "buyer" or number == 2:
            card = cards.declined if plan.role == "drained" else cards.ok
            body = {
                "organization_id": plan.organization_id,
                "package_id": packages["pack"],
                "payment_method": card,
                "billing_interval": SUBSCRIPTION_INTERVAL,
                "grace_period": "PT8S",
            }
            created = await client.send(
                "POST",
                "/api/tokens/subscriptions",
                credential=plan.token,
                body=body,
                idempotency_key=uuid.uuid4().hex,
            )
            _require(created.accepted, f"subscription for {plan.organization_id}: {created.body}")
            book.subscriptions[int(created.body["subscription_id"])] = plan.organization_id
        if plan.topup_threshold is not None:
            policy = await client.send(
                "PUT",
                f"/api/tokens/wallet/{plan.organization_id}/auto-topup",
                credential=plan.token,
                body={
                    "threshold": str(plan.topup_threshold),
                    "package_id": packages["topup"],
                    "payment_method": cards.ok,
                    # The highest caps a policy may ask for: the run is about money, not caps.
                    "max_topups_per_day": 50,
                    "max_monthly_spend": "100000.00",
                },
            )
            _require(policy.accepted, f"auto top-up for {plan.organization_id}: {policy.body}")
            book.topup_policies[plan.organization_id] = plan.topup_threshold


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"setting up the run failed: {what}")
