"""A deactivated organization spends nothing (issue 10, item 6): a single spend answers 409
organization_inactive and a batch refuses its items alone; the balance stays as it was, and
spends go through again once it is reactivated."""

import uuid
from decimal import Decimal

import httpx

from db.audit import Actor
from db.directory import deactivate_organization, reactivate_organization
from tests.api.helpers import Maker
from tests.api.spending.conftest import FundOrganization, MakeApiKey
from tests.api.spending.test_consume import balance_and_debits, consume

ADMIN = Actor.system("test-admin")


async def set_active(session_maker: Maker, organization_id: int, active: bool) -> None:
    change = reactivate_organization if active else deactivate_organization
    async with session_maker() as session, session.begin():
        await change(session, organization_id, actor=ADMIN)


async def test_a_deactivated_organizations_spend_is_refused_and_leaves_the_balance(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("50")
    api.headers["Authorization"] = f"Bearer {await make_api_key(org)}"
    await set_active(session_maker, org, False)

    refused = await consume(api, org, "5")

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "organization_inactive"
    assert await balance_and_debits(session_maker, org) == (Decimal(50), 0)
    await set_active(session_maker, org, True)
    assert (await consume(api, org, "5")).status_code == 201
    assert await balance_and_debits(session_maker, org) == (Decimal(45), 1)


async def test_a_batch_refuses_a_deactivated_organizations_items_alone(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    active, inactive = await fund("50"), await fund("50")
    api.headers["Authorization"] = f"Bearer {await make_api_key()}"
    await set_active(session_maker, inactive, False)
    items = [
        {"idempotency_key": uuid.uuid4().hex, "organization_id": org, "amount": "5",
         "reason": "claim review"}
        for org in (active, inactive)
    ]  # fmt: skip

    answer = await api.post("/api/tokens/consumptions", json={"items": items})

    assert answer.status_code == 200, answer.text
    got = [(i["status"], (i["error"] or {}).get("code")) for i in answer.json()["items"]]
    assert got == [("applied", None), ("failed", "organization_inactive")]
    assert await balance_and_debits(session_maker, inactive) == (Decimal(50), 0)
    assert await balance_and_debits(session_maker, active) == (Decimal(45), 1)
