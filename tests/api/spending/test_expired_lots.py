"""Spending through the API leaves expired lots alone (issue 9, edge 6): the refusal reports the
spendable balance, and the wallet shows what has expired but is not yet booked."""

import uuid
from datetime import UTC, datetime

import httpx

from tests.api.helpers import MakeUser
from tests.api.spending.conftest import FundOrganization

EXPIRED = datetime(2020, 1, 1, tzinfo=UTC)


async def consume(api: httpx.AsyncClient, org: int, amount: str) -> httpx.Response:
    return await api.post(
        f"/api/tokens/wallet/{org}/consume",
        json={"amount": amount, "reason": "claim review"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_consume_refuses_expired_tokens_and_reports_the_spendable_balance(
    api: httpx.AsyncClient, fund: FundOrganization, make_user: MakeUser
):
    org = await fund(("30", EXPIRED), ("20", None))
    api.headers.update((await make_user(org, ("tokens.consume", "tokens.view"))).headers())

    refused = await consume(api, org, "25")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "insufficient_balance"
    assert (error["details"]["balance"], error["details"]["requested"]) == ("20", "25")

    assert (await consume(api, org, "20")).status_code == 201
    wallet = (await api.get(f"/api/tokens/wallet/{org}")).json()
    assert (wallet["current_balance"], wallet["spendable_balance"], wallet["expired_pending"]) == (
        "30", "0", "30",
    )  # fmt: skip
