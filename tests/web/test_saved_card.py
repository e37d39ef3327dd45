"""The settings page shows the organisation's saved card (brand, last four) with Stripe as the
payment provider, or that none is saved."""

from collections.abc import AsyncIterator

import httpx
import pytest

from api.auth.jwt_tokens import issue_token
from tests.api.helpers import ApiUser, api_client
from tests.api.stripe_helpers import standin, stripe_api, stripe_settings
from tests.api.test_payment_method_setup import save_card
from tests.web.conftest import MakeConsoleUser, sign_in
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings

__all__ = ["standin", "stripe_api", "stripe_settings"]


@pytest.fixture
async def stripe_console(stripe_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stripe_settings) as client:
        yield client


async def test_settings_page_shows_the_saved_card(
    stripe_console: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    make_console_user: MakeConsoleUser,
    make_organization,
    settings: Settings,
) -> None:
    organization = await make_organization()
    user = await make_console_user(
        organization, ("tokens.view", "tokens.configure", "tokens.purchase")
    )
    await sign_in(stripe_console, user.email)
    before = await stripe_console.get("/tokens/settings")
    assert "No card saved." in before.text
    buyer = ApiUser(user.id, organization, issue_token(settings, user.id))
    await save_card(stripe_api, standin, buyer, "pm_card_visa")
    after = await stripe_console.get("/tokens/settings")
    assert "Visa ending in 4242, expires 12/2034" in after.text
