"""Saving a card: the SetupIntent the API starts, confirmed as Stripe.js would, then Stripe's
`setup_intent.succeeded` makes it the organisation's default card, shown by brand and last four."""

from collections.abc import Awaitable, Callable

import httpx

from tests.api.helpers import ApiUser, Maker, count_rows, new_key
from tests.api.stripe_helpers import deliver, emitted, standin, stripe_api, stripe_settings
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["standin", "stripe_api", "stripe_settings"]
MakeUser = Callable[..., Awaitable[ApiUser]]


async def save_card(
    client: httpx.AsyncClient, standin: StandinServer, buyer: ApiUser, payment_method: str
) -> dict[str, str]:
    """Start the setup through the API, confirm it on the stand-in, deliver Stripe's event."""
    org = buyer.organization_id
    started = await client.post(
        f"/api/tokens/organizations/{org}/payment-method/setup",
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    assert started.status_code == 201, started.text
    setup = started.json()
    async with httpx.AsyncClient(base_url=standin.url) as browser:
        confirmed = await browser.post(
            f"/_standin/setup_intents/{setup['setup_intent_id']}/confirm",
            params={"payment_method": payment_method},
        )
    assert confirmed.json()["status"] == "succeeded"
    event = emitted(standin, "setup_intent.succeeded", setup["setup_intent_id"])
    answer = await deliver(client, event)
    assert answer.json()["outcome"] == "payment_method_saved", answer.text
    return dict(setup)


async def test_confirmed_setup_saves_the_default_card(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    buyer = await make_user(await make_organization())
    url = f"/api/tokens/organizations/{buyer.organization_id}/payment-method"
    assert (await stripe_api.get(url, headers=buyer.headers())).json() == {
        "saved": False, "brand": None, "last4": None, "exp_month": None, "exp_year": None,
    }  # fmt: skip
    setup = await save_card(stripe_api, standin, buyer, "pm_card_mastercard")
    assert setup["client_secret"].startswith(setup["setup_intent_id"] + "_secret_")
    assert setup["publishable_key"] == "pk_test_standin_events"
    card = (await stripe_api.get(url, headers=buyer.headers())).json()
    assert (card["saved"], card["brand"], card["last4"]) == (True, "mastercard", "4444")
    customer = standin.store.objects("customer")[setup["customer_id"]]
    assert customer["invoice_settings"]["default_payment_method"] == "pm_card_mastercard"
    again = await stripe_api.post(
        f"{url}/setup", headers=buyer.headers(**{"Idempotency-Key": new_key()})
    )
    assert again.json()["customer_id"] == setup["customer_id"], "one customer per organization"


async def test_setup_replay_does_not_show_the_client_secret_again(
    stripe_api: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
    session_maker: Maker,
) -> None:
    buyer = await make_user(await make_organization())
    url = f"/api/tokens/organizations/{buyer.organization_id}/payment-method/setup"
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    first = (await stripe_api.post(url, headers=headers)).json()
    replay = (await stripe_api.post(url, headers=headers)).json()
    assert first["client_secret"].startswith(first["setup_intent_id"] + "_secret_")
    assert replay == {**first, "client_secret": None}
    assert await count_rows(
        session_maker, "idempotency_records", "response_body::text LIKE :s",
        s=f"%{first['client_secret']}%",
    ) == 0  # fmt: skip


async def test_setup_needs_tokens_purchase(
    stripe_api: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    viewer = await make_user(await make_organization(), ("tokens.view",))
    answer = await stripe_api.post(
        f"/api/tokens/organizations/{viewer.organization_id}/payment-method/setup",
        headers=viewer.headers(**{"Idempotency-Key": new_key()}),
    )
    assert answer.status_code == 403


async def test_sandbox_gateway_answers_provider_not_configured(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    buyer = await make_user(await make_organization())
    base = f"/api/tokens/organizations/{buyer.organization_id}/payment-method"
    read = await client.get(base, headers=buyer.headers())
    setup = await client.post(
        f"{base}/setup", headers=buyer.headers(**{"Idempotency-Key": new_key()})
    )
    for answer in (read, setup):
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "payment_provider_not_configured"
