"""The Stripe stand-in answers raw HTTP the way Stripe does: bearer key, form bodies with nested
keys, error objects, idempotent replay and refusal, list objects."""

import httpx
import pytest

from tests.payment_gateways import STANDIN_KEY
from tokenbill.devstack.stripe_standin.forms import parse_form
from tokenbill.devstack.stripe_standin.process import StandinProcess
from tokenbill.devstack.stripe_standin.server import StandinServer, free_port

AUTH = {"Authorization": f"Bearer {STANDIN_KEY}"}


def test_form_bodies_nest_like_stripes():
    assert parse_form(
        "amount=5&metadata[order]=7&metadata[org]=1&expand[0]=a&expand[1]=b&x[y][z]=w&l[]=1&l[]=2"
    ) == {"amount": "5", "metadata": {"order": "7", "org": "1"}, "expand": ["a", "b"],
          "x": {"y": {"z": "w"}}, "l": ["1", "2"]}  # fmt: skip


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str], key: str | None = None):
    headers = dict(AUTH) | ({"Idempotency-Key": key} if key else {})
    return await client.post(path, data=data, headers=headers)


async def test_requests_without_the_secret_key_are_refused(stripe_standin: StandinServer):
    async with httpx.AsyncClient(base_url=stripe_standin.url) as client:
        missing = await client.post("/v1/customers", data={})
        wrong = await client.post("/v1/customers", headers={"Authorization": "Bearer sk_test_x"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    stripe_standin: StandinServer,
):
    card = {"amount": "500", "currency": "usd", "payment_method": "pm_card_chargeDeclined",
            "confirm": "true", "metadata[ref]": "r1"}  # fmt: skip
    async with httpx.AsyncClient(base_url=stripe_standin.url) as client:
        first = await post(client, "/v1/payment_intents", card, "standin-test-1")
        again = await post(client, "/v1/payment_intents", card, "standin-test-1")
        other = await post(
            client, "/v1/payment_intents", card | {"amount": "501"}, "standin-test-1"
        )
    assert first.status_code == again.status_code == 402
    error = first.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["metadata"] == {"ref": "r1"}
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"


async def test_objects_are_shaped_like_stripes(stripe_standin: StandinServer):
    async with httpx.AsyncClient(base_url=stripe_standin.url) as client:
        customer = (await post(client, "/v1/customers", {"metadata[organization_id]": "9"})).json()
        intent = (
            await post(
                client,
                "/v1/payment_intents",
                {
                    "amount": "1234",
                    "currency": "eur",
                    "customer": customer["id"],
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                },
            )
        ).json()
        charge = (await client.get(f"/v1/charges/{intent['latest_charge']}", headers=AUTH)).json()
        listed = (await client.get(f"/v1/payment_intents?customer={customer['id']}",
                                   headers=AUTH)).json()  # fmt: skip
        method = (await client.get("/v1/payment_methods/pm_card_visa", headers=AUTH)).json()
        missing = await client.get("/v1/payment_intents/pi_nope", headers=AUTH)
    assert customer["id"].startswith("cus_") and customer["object"] == "customer"
    assert (intent["object"], intent["status"], intent["amount_received"]) == (
        "payment_intent",
        "succeeded",
        1234,
    )
    assert intent["id"].startswith("pi_") and intent["client_secret"].startswith(intent["id"])
    assert (charge["object"], charge["paid"], charge["payment_intent"]) == (
        "charge",
        True,
        intent["id"],
    )
    assert charge["balance_transaction"].startswith("txn_")
    assert listed["object"] == "list" and [i["id"] for i in listed["data"]] == [intent["id"]]
    assert (method["card"]["brand"], method["card"]["last4"]) == ("visa", "4242")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("path", ["/v1/unknown_things", "/v1/customers/cus_x/nothing"])
async def test_unknown_urls_answer_a_stripe_error(stripe_standin: StandinServer, path: str):
    async with httpx.AsyncClient(base_url=stripe_standin.url) as client:
        answer = await client.get(path, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_the_standin_runs_as_a_process_for_chaos_and_the_dev_stack(tmp_path):
    standin = StandinProcess(free_port(), tmp_path / "standin.log")
    standin.start()
    try:
        refused = httpx.get(f"{standin.url}/v1/customers/cus_x")
        found = httpx.get(
            f"{standin.url}/v1/payment_methods/pm_card_visa",
            headers={"Authorization": f"Bearer {standin.api_key}"},
        )
    finally:
        standin.stop()
    assert refused.status_code == 401 and found.json()["card"]["last4"] == "4242"


async def test_listeners_hear_events_after_the_handler_and_may_call_the_api():
    heard: list[tuple[str, str]] = []
    with StandinServer(STANDIN_KEY) as standin:

        async def listener(event_type: str, obj: dict[str, object]) -> None:
            async with httpx.AsyncClient(base_url=standin.url) as client:  # no deadlock
                again = await client.get(
                    f"/v1/payment_intents/{obj['payment_intent']}", headers=AUTH
                )
            heard.append((event_type, again.json()["status"]))

        async with httpx.AsyncClient(base_url=standin.url) as client:
            created = await post(client, "/v1/payment_intents", {
                "amount": "100", "currency": "usd", "payment_method": "pm_card_visa",
                "confirm": "true",
            })  # fmt: skip
            assert created.status_code == 200
        standin.store.event_listeners.append(listener)
        async with httpx.AsyncClient(base_url=standin.url) as client:
            await post(client, "/v1/refunds", {"payment_intent": created.json()["id"]})
    assert heard == [("refund.created", "succeeded"), ("charge.refunded", "succeeded")]
