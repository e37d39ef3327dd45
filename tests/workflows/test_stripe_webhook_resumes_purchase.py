"""A purchase waiting for the customer's 3-D Secure goes on when Stripe's signed webhook says how
it ended: the real PurchaseWorkflow on a worker charging through the stand-in, the webhook route
of the app, the event the stand-in made when the customer authenticated."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from tests.api.helpers import api_client
from tests.api.stripe_helpers import deliver, emitted
from tests.payment_gateways import CardTable
from tests.purchase_helpers import Maker, create_package, insert_purchase
from tests.workflows.test_purchase_workflow import gateway_queue, start_purchase, waiting_action
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings
from workflows.payment_action_types import PaymentAction

__all__ = ["gateway_queue"]
SECRET = "whsec_resume_tests"


@pytest.fixture
async def webhook_api(gateway_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings.model_copy(update={"stripe_webhook_secret": SecretStr(SECRET)})
    async with api_client(settings) as client:
        yield client


async def _waiting_purchase(
    temporal_client: Client, queue: str, session_maker: Maker, org: int, card: str
) -> tuple[Any, PaymentAction]:
    purchase = await insert_purchase(session_maker, org, await create_package(session_maker), card)
    handle = await start_purchase(temporal_client, queue, purchase)
    action = await waiting_action(handle)
    assert action.action_url is not None
    return handle, action


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_succeeded_webhook_resumes_the_waiting_purchase_once(
    settings: Settings,
    temporal_client: Client,
    gateway_queue: str,
    webhook_api: httpx.AsyncClient,
    stripe_standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    cards: CardTable,
) -> None:
    assert cards.requires_action is not None
    org = await make_organization()
    handle, action = await _waiting_purchase(
        temporal_client, gateway_queue, session_maker, org, cards.requires_action
    )
    async with httpx.AsyncClient() as browser:  # the customer completes 3-D Secure
        (await browser.post(str(action.action_url))).raise_for_status()
    event = emitted(stripe_standin, "payment_intent.succeeded", action.payment_reference)
    first = await deliver(webhook_api, event, secret=SECRET)
    again = await deliver(webhook_api, event, secret=SECRET)
    assert first.json()["outcome"] == "signalled", first.text
    assert again.json()["duplicate"] is True
    result = await handle.result()
    assert result.status == "completed"


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_failed_webhook_fails_the_waiting_purchase(
    settings: Settings,
    temporal_client: Client,
    gateway_queue: str,
    webhook_api: httpx.AsyncClient,
    stripe_standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    cards: CardTable,
) -> None:
    assert cards.requires_action is not None
    org = await make_organization()
    handle, action = await _waiting_purchase(
        temporal_client, gateway_queue, session_maker, org, cards.requires_action
    )
    async with httpx.AsyncClient() as browser:
        (await browser.post(str(action.action_url), params={"result": "fail"})).raise_for_status()
    event = emitted(stripe_standin, "payment_intent.payment_failed", action.payment_reference)
    answer = await deliver(webhook_api, event, secret=SECRET)
    assert answer.json()["outcome"] == "signalled", answer.text
    result = await handle.result()
    assert result.status == "failed"
    assert "authentication" in (result.failure_reason or "")
