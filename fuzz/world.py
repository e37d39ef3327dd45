"""What the fuzzer acts in: an organization with a wallet, a package, a completed purchase with
its invoice, a subscription, a webhook, another organization, and one credential per permission
set. Sacrificial rows stand in for the targets of admin routes that deactivate or revoke, so the
fuzzer never locks its own credentials out."""

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.jwt_tokens import issue_token
from db import directory, ledger
from db.api_keys import create_api_key
from db.audit import Actor
from db.directory import CONFIGURE, CONSUME, PURCHASE, VIEW
from db.session import create_engine, create_session_maker
from db.webhook_secrets import SecretBox, secret_hint
from tokenbill.settings import Settings

# Rows the fuzzer relies on get ids far from the small integers hypothesis favours.
FIRST_ID = 700_000
SEQUENCED_TABLES = ("organizations", "users", "api_keys", "token_packages", "webhook_endpoints")
SYSTEM = Actor.system("fuzz")
ALL_PERMISSIONS = (VIEW, PURCHASE, CONFIGURE, CONSUME)
FUZZ_WEBHOOK_SECRET = "whsec_ZnV6ei13ZWJob29rLXNlY3JldA=="


@dataclass(frozen=True)
class Identity:
    """A credential and the permission set it stands for; `token` None sends no credential."""

    name: str
    token: str | None

    def headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class World:
    identities: tuple[Identity, ...]
    known: dict[str, tuple[object, ...]]
    sacrificial: dict[str, tuple[object, ...]] = field(default_factory=dict)

    def values_for(self, path: str, parameter: str) -> tuple[object, ...]:
        """Known values worth trying for a path parameter of this route."""
        if any(part in path for part in ("/deactivate", "/revoke", "/permissions/")):
            return self.sacrificial.get(parameter, ())
        return self.known.get(parameter, ())


async def build_world(settings: Settings) -> World:
    engine = create_engine(settings, pool_size=1)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            return await _populate(session, settings)
    finally:
        await engine.dispose()


async def _populate(session: AsyncSession, settings: Settings) -> World:
    for table in SEQUENCED_TABLES:
        await session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {FIRST_ID})")
        )
    home = await _organization(session, "Fuzz Home Clinic")
    other = await _organization(session, "Fuzz Other Clinic")
    spare = await _organization(session, "Fuzz Spare Clinic")
    wallet = await ledger.ensure_wallet(session, home)
    await ledger.credit(
        session, wallet_id=wallet, amount=Decimal(1_000_000), idempotency_key="fuzz:funding"
    )
    package = await _scalar(
        session,
        "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
        "VALUES ('Fuzz Pack', 500, 0.50, 'USD') RETURNING id",
    )
    reference, invoice = await _completed_purchase(session, home, wallet, package)
    subscription = await _scalar(
        session,
        "INSERT INTO token_subscriptions (organization_id, wallet_id, package_id, payment_method,"
        " workflow_id, token_quantity, price_per_token, currency) SELECT :o, :w, id,"
        " 'pm_card_ok', 'subscription-fuzz', token_quantity, price_per_token, currency"
        " FROM token_packages WHERE id = :p RETURNING id",
        o=home, w=wallet, p=package,
    )  # fmt: skip
    webhook = await _scalar(
        session,
        "INSERT INTO webhook_endpoints (organization_id, url, secret_ciphertext, secret_hint,"
        " event_types) VALUES (:o, 'https://hooks.example.com/fuzz', :s, :h,"
        " ARRAY['wallet.balance_low']) RETURNING id",
        o=home, s=SecretBox(settings).encrypt(FUZZ_WEBHOOK_SECRET),
        h=secret_hint(FUZZ_WEBHOOK_SECRET),
    )  # fmt: skip
    users = {
        "no permission": await _user(session, home, ()),
        "view": await _user(session, home, (VIEW,)),
        "purchase": await _user(session, home, (PURCHASE,)),
        "configure": await _user(session, home, (CONFIGURE,)),
        "consume": await _user(session, home, (CONSUME,)),
        "admin": await _user(session, None, (), role="admin"),
        "other organization": await _user(session, other, ALL_PERMISSIONS),
    }
    _, api_secret = await create_api_key(
        session, name="fuzz", scopes=(CONSUME,), organization_id=home, actor=SYSTEM
    )
    spare_user = await _user(session, spare, ALL_PERMISSIONS)
    spare_key, _ = await create_api_key(
        session, name="fuzz spare", scopes=(CONSUME,), organization_id=spare, actor=SYSTEM
    )
    identities = [Identity(name, issue_token(settings, uid)) for name, uid in users.items()]
    identities += [Identity("api key", api_secret), Identity("anonymous", None)]
    return World(
        identities=tuple(identities),
        known={
            "organization_id": (home, other),
            "package_id": (package,),
            "purchase_reference_id": (reference,),
            "invoice_number": (invoice,),
            "subscription_id": (subscription,),
            "endpoint_id": (webhook,),
            "month": ("2026-01",),
        },
        sacrificial={
            "organization_id": (spare,),
            "user_id": (spare_user,),
            "api_key_id": (spare_key.id,),
            "permission": ALL_PERMISSIONS,
        },
    )


async def _scalar(session: AsyncSession, sql: str, **params: object) -> int:
    value = await session.scalar(text(sql), params)
    assert value is not None
    return int(value)


async def _organization(session: AsyncSession, name: str) -> int:
    record = await directory.create_organization(session, name=name, actor=SYSTEM)
    return record.id


async def _user(
    session: AsyncSession,
    organization_id: int | None,
    permissions: tuple[str, ...],
    *,
    role: directory.Role = "user",
) -> int:
    record = await directory.create_user(
        session,
        email=f"fuzz-{uuid.uuid4().hex[:12]}@fuzz.test",
        role=role,
        organization_id=organization_id,
        permissions=permissions,
        actor=SYSTEM,
    )
    return record.id


async def _completed_purchase(
    session: AsyncSession, organization_id: int, wallet_id: int, package_id: int
) -> tuple[str, str]:
    """A paid purchase and its invoice, as the purchase workflow leaves them."""
    reference = "TKP-FUZZ" + uuid.uuid4().hex[:12].upper()
    invoice_number = "FUZZ-" + uuid.uuid4().hex[:10].upper()
    invoice_id = await _scalar(
        session,
        "INSERT INTO invoices (invoice_number, idempotency_key, organization_id, status,"
        " currency, subtotal, tax_rate, tax_amount, total, issue_date, due_date, paid_at,"
        " purchase_reference_id) VALUES (:n, :k, :o, 'paid', 'USD', 250.00, 0.16, 40.00,"
        " 290.00, DATE '2026-01-15', DATE '2026-02-14', now(), :r) RETURNING id",
        n=invoice_number, k=f"fuzz:{reference}", o=organization_id, r=reference,
    )  # fmt: skip
    await session.execute(
        text(
            "INSERT INTO invoice_lines (organization_id, invoice_id, description, package_id,"
            " token_quantity, unit_price, amount)"
            " VALUES (:o, :i, 'Fuzz Pack x1', :p, 500, 0.50, 250.00)"
        ),
        {"o": organization_id, "i": invoice_id, "p": package_id},
    )
    await session.execute(
        text(
            "INSERT INTO token_purchases (purchase_reference_id, organization_id, wallet_id,"
            " package_id, purchase_type, token_quantity, price_per_token, subtotal_amount,"
            " tax_rate, tax_amount, total_amount, currency, payment_method, status,"
            " workflow_id, invoice_id, completed_at) VALUES (:r, :o, :w, :p, 'one_time', 500,"
            " 0.50, 250.00, 0.16, 40.00, 290.00, 'USD', 'pm_card_ok', 'completed',"
            " :wf, :i, now())"
        ),
        {"r": reference, "o": organization_id, "w": wallet_id, "p": package_id,
         "wf": f"purchase-{reference}", "i": invoice_id},
    )  # fmt: skip
    return reference, invoice_number
