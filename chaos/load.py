"""The clients' traffic: purchases, single and batch spends from several organizations, until
the run's end. Each request's outcome goes into the book as the client saw it."""

import asyncio
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal

from chaos.book import Book, OrgPlan
from chaos.cards import CARDS, ChaosCards
from chaos.client import GaveUp, ResilientClient

PURCHASE_PAUSE = {"buyer": (1.0, 3.0), "topup": (30.0, 60.0), "drained": (4.0, 8.0)}
SPEND_PAUSE = {"buyer": (0.2, 0.6), "topup": (0.1, 0.3), "drained": (0.1, 0.3)}
DECLINED_SHARE = 0.1


@dataclass(frozen=True)
class Traffic:
    client: ResilientClient
    plans: list[OrgPlan]
    api_key: str
    package_id: int
    book: Book
    rng: random.Random
    stop: asyncio.Event
    cards: ChaosCards = CARDS["sandbox"]


async def drive(traffic: Traffic) -> None:
    """Every organization buys and spends; one platform client sends batches across them."""
    tasks = [buy(traffic, plan) for plan in traffic.plans]
    tasks += [spend(traffic, plan) for plan in traffic.plans]
    tasks.append(spend_batches(traffic))
    await asyncio.gather(*tasks)


async def _pause(traffic: Traffic, low: float, high: float) -> bool:
    """Wait a random moment; False once the run is over."""
    try:
        await asyncio.wait_for(traffic.stop.wait(), timeout=traffic.rng.uniform(low, high))
    except TimeoutError:
        return True
    return False


async def buy(traffic: Traffic, plan: OrgPlan) -> None:
    first = True
    while first or await _pause(traffic, *PURCHASE_PAUSE[plan.role]):
        first = False
        key = uuid.uuid4().hex
        declined = traffic.rng.random() < DECLINED_SHARE
        body = {
            "organization_id": plan.organization_id,
            "package_id": traffic.package_id,
            "payment_method": traffic.cards.declined if declined else traffic.cards.ok,
        }
        try:
            answer = await traffic.client.send(
                "POST",
                "/api/tokens/purchases",
                credential=plan.token,
                body=body,
                idempotency_key=key,
            )
        except GaveUp as gave_up:
            traffic.book.unanswered.append(str(gave_up))
            continue
        if answer.accepted:
            traffic.book.purchases[key] = str(answer.body["purchase_reference_id"])
        else:
            traffic.book.refused_purchases[key] = answer.error_code or str(answer.status)


def _amount(traffic: Traffic) -> Decimal:
    return Decimal(traffic.rng.randint(1, 40))


async def spend(traffic: Traffic, plan: OrgPlan) -> None:
    org = plan.organization_id
    while await _pause(traffic, *SPEND_PAUSE[plan.role]):
        key, amount = uuid.uuid4().hex, _amount(traffic)
        try:
            answer = await traffic.client.send(
                "POST",
                f"/api/tokens/wallet/{org}/consume",
                credential=traffic.api_key,
                body={"amount": str(amount), "reason": "chaos spend"},
                idempotency_key=key,
            )
        except GaveUp as gave_up:
            traffic.book.unanswered.append(str(gave_up))
            continue
        refusal = None if answer.accepted else answer.error_code or str(answer.status)
        traffic.book.spend_answered(org, key, amount, refusal)


async def spend_batches(traffic: Traffic) -> None:
    while await _pause(traffic, 0.5, 1.5):
        items: list[dict[str, str | int]] = []
        for _ in range(traffic.rng.randint(2, 20)):
            plan = traffic.rng.choice(traffic.plans)
            items.append(
                {
                    "organization_id": plan.organization_id,
                    "amount": str(_amount(traffic)),
                    "reason": "chaos batch",
                    "idempotency_key": uuid.uuid4().hex,
                }
            )
        try:
            answer = await traffic.client.send(
                "POST",
                "/api/tokens/consumptions",
                credential=traffic.api_key,
                body={"items": items},
            )
        except GaveUp as gave_up:
            traffic.book.unanswered.append(str(gave_up))
            continue
        if not answer.accepted:
            raise RuntimeError(f"a well-formed batch was refused: {answer.status} {answer.body}")
        traffic.book.batches += 1
        for item, outcome in zip(items, answer.body["items"], strict=True):
            refusal = None
            if outcome["status"] == "failed":
                refusal = str(outcome["error"]["code"])
            traffic.book.spend_answered(
                int(item["organization_id"]),
                str(item["idempotency_key"]),
                Decimal(str(item["amount"])),
                refusal,
            )
