"""Holds among the chaos traffic: a platform client reserves tokens, then captures all or part,
releases, or leaves the hold to expire (short TTLs, so the expireHolds job races captures)."""

import asyncio
import uuid
from decimal import Decimal

from chaos.client import GaveUp
from chaos.holds_book import HoldAnswers
from chaos.load import Traffic, _pause

HOLD_PAUSE = (0.2, 0.6)
TTLS = ("PT2S", "PT5S", "PT30S")


async def hold_traffic(traffic: Traffic, answers: HoldAnswers) -> None:
    """As many clients as organizations, each making holds on random organizations and settling
    each one way or another."""
    await asyncio.gather(*(_hold_client(traffic, answers) for _ in traffic.plans))


async def _hold_client(traffic: Traffic, answers: HoldAnswers) -> None:
    while await _pause(traffic, *HOLD_PAUSE):
        plan = traffic.rng.choice(traffic.plans)
        org, amount = plan.organization_id, Decimal(traffic.rng.randint(1, 40))
        try:
            made = await traffic.client.send(
                "POST", f"/api/tokens/wallet/{org}/holds", credential=traffic.api_key,
                body={"amount": str(amount), "reason": "chaos hold",
                      "ttl": traffic.rng.choice(TTLS)},
                idempotency_key=uuid.uuid4().hex,
            )  # fmt: skip
        except GaveUp as gave_up:
            traffic.book.unanswered.append(str(gave_up))
            continue
        if not made.accepted:
            answers.refused += 1
            continue
        hold_id = int(made.body["hold_id"])
        answers.holds[hold_id] = (org, amount)
        await _settle(traffic, answers, org, hold_id, amount)


async def _settle(
    traffic: Traffic, answers: HoldAnswers, org: int, hold_id: int, amount: Decimal
) -> None:
    choice = traffic.rng.random()
    if choice < 0.2:
        return  # left to expire
    await _pause(traffic, 0.0, 3.0)
    url = f"/api/tokens/wallet/{org}/holds/{hold_id}"
    capturing = choice < 0.75
    body = {"amount": str(Decimal(traffic.rng.randint(1, int(amount))))} if capturing else None
    try:
        answer = await traffic.client.send(
            "POST", f"{url}/capture" if capturing else f"{url}/release",
            credential=traffic.api_key, body=body,
        )  # fmt: skip
    except GaveUp as gave_up:
        traffic.book.unanswered.append(str(gave_up))
        return
    if capturing and answer.accepted:
        answers.captured[hold_id] = Decimal(str(answer.body["captured_amount"]))
    elif capturing:
        answers.capture_refused[hold_id] = answer.error_code or str(answer.status)
    elif answer.accepted:
        answers.released.add(hold_id)
    else:
        answers.release_refused[hold_id] = answer.error_code or str(answer.status)
