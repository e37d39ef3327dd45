"""The stand-in delivers its events to a registered webhook endpoint as Stripe does (signed with
the endpoint's secret), and the running API records them: a refund made at "Stripe" arrives as
`charge.refunded` over real HTTP on loopback."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import text

from api.app import create_app
from tests.api.helpers import MakePackage, Maker
from tests.api.stripe_helpers import paid_purchase, sdk, standin, stripe_settings
from tokenbill.devstack.ports import free_port
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings

__all__ = ["standin", "stripe_settings"]


@pytest.fixture
async def live_webhook(stripe_settings: Settings, standin: StandinServer) -> AsyncIterator[None]:
    """The app on a loopback port, registered at the stand-in as a webhook endpoint."""
    port = free_port()
    endpoint = await sdk(standin).v1.webhook_endpoints.create_async(
        params={
            "url": f"http://127.0.0.1:{port}/api/tokens/stripe/webhook",
            "enabled_events": ["charge.refunded"],
        }
    )
    settings = stripe_settings.model_copy(
        update={"stripe_webhook_secret": SecretStr(str(endpoint.secret))}
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        standin.store.objects("webhook_endpoint").pop(endpoint.id)
        server.should_exit = True
        await task


async def test_refund_at_stripe_reaches_the_api_as_a_signed_event(
    live_webhook: None,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    purchase = await paid_purchase(
        session_maker, standin, await make_organization(), await make_package()
    )
    await sdk(standin).v1.refunds.create_async(params={"payment_intent": purchase.payment_intent})
    outcome = None
    for _ in range(400):
        async with session_maker() as session:
            outcome = await session.scalar(
                text(
                    "SELECT outcome FROM stripe_events WHERE event_type = 'charge.refunded' "
                    "AND object_id = :c"
                ),
                {"c": purchase.charge},
            )
        if outcome is not None:
            break
        await asyncio.sleep(0.05)
    assert outcome == "refund_unmatched"
