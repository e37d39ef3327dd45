"""With a real provider (--gateway stripe): its own records agree with the engine's, organisation
by organisation, and it never charged one business key twice."""

from collections import Counter, defaultdict
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.gateway_book import GatewayBook
from chaos.verdict import Verdict

# The money the engine holds as kept: a charge it recorded and no refund it recorded.
ENGINE_MONEY_SQL = """
SELECT organization_id,
       coalesce(sum(total_amount) FILTER (WHERE gateway_charge_id IS NOT NULL), 0) AS charged,
       coalesce(sum(total_amount) FILTER (WHERE gateway_refund_id IS NOT NULL), 0) AS refunded
  FROM token_purchases GROUP BY organization_id
"""


async def provider_agrees_with_engine(session: AsyncSession, gateway: GatewayBook) -> Verdict:
    """Per organisation: succeeded PaymentIntents minus Refunds at the provider = the engine's
    recorded charges minus its recorded refunds."""
    verdict = Verdict("the provider's charges minus refunds equal the engine's, per organisation")
    records = gateway.records or []
    provider: dict[int | None, Decimal] = defaultdict(Decimal)
    for record in records:
        if record.status != "succeeded":
            continue
        sign = 1 if record.operation == "charge" else -1
        provider[record.organization_id] += sign * record.amount
    engine: dict[int | None, Decimal] = {}
    for row in await session.execute(text(ENGINE_MONEY_SQL)):
        engine[row.organization_id] = Decimal(row.charged) - Decimal(row.refunded)
    for org in sorted(set(provider) | set(engine), key=lambda o: (o is None, o or 0)):
        at_provider, at_engine = provider.get(org, Decimal(0)), engine.get(org, Decimal(0))
        if at_provider != at_engine:
            verdict.violations.append(
                f"organisation {org}: provider holds {at_provider}, engine {at_engine}"
            )
    kept = sum(provider.values(), Decimal(0))
    verdict.looked_at = f"{gateway.looked_at}; {kept} kept over {len(provider)} organisations"
    return verdict


def one_provider_charge_per_key(gateway: GatewayBook) -> Verdict:
    verdict = Verdict("the provider holds one PaymentIntent and one Refund per business key")
    keys = Counter((r.operation, r.key) for r in gateway.records or [])
    verdict.violations = [
        f"{op} {key}: {n} at the provider" for (op, key), n in keys.items() if n > 1
    ]
    verdict.looked_at = f"{len(keys)} keys"
    return verdict
