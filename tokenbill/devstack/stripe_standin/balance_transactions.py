"""/v1/balance_transactions: the money movements of the account (a charge's `charge`, a refund's
`refund`, a dispute's `adjustment`), listed newest first with `created[gte]`/`created[lt]`
(and `gt`/`lte`), `type`, `limit` and `starting_after`."""

from typing import Any

from starlette.routing import Route

from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import invalid_request, no_such
from tokenbill.devstack.stripe_standin.listing import list_page
from tokenbill.devstack.stripe_standin.store import StripeObject

_COMPARISONS = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


def _created_filter(params: dict[str, Any]) -> list[tuple[str, int]]:
    created = params.get("created")
    if created is None:
        return []
    if not isinstance(created, dict):
        created = {"eq": created}
    bounds = []
    for op, value in created.items():
        if op not in (*_COMPARISONS, "eq") or not str(value).isdigit():
            raise invalid_request(f"Invalid created[{op}]: {value}", param="created")
        bounds.append((op, int(value)))
    return bounds


async def list_transactions(call: Call) -> tuple[int, dict[str, Any]]:
    bounds = _created_filter(call.params)
    wanted_type = call.params.get("type")

    def keep(txn: StripeObject) -> bool:
        if wanted_type is not None and txn["type"] != wanted_type:
            return False
        return all(
            txn["created"] == value if op == "eq" else _COMPARISONS[op](txn["created"], value)
            for op, value in bounds
        )

    page = list_page(
        "/v1/balance_transactions", call.store.objects("balance_transaction").values(),
        call.params, keep,
    )  # fmt: skip
    expand = call.params.get("expand") or []
    if "data.source" in (expand if isinstance(expand, list) else [expand]):
        page["data"] = [{**txn, "source": _source(call, txn["source"])} for txn in page["data"]]
    return 200, page


def _source(call: Call, source: str) -> Any:
    """`expand[]=data.source`: the charge, refund or dispute the transaction came from."""
    for kind in ("charge", "refund", "dispute"):
        found = call.store.objects(kind).get(source)
        if found is not None:
            return found
    return source


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    txn = call.store.objects("balance_transaction").get(call.path_params["id"])
    if txn is None:
        raise no_such("balance_transaction", call.path_params["id"])
    return 200, txn


def routes() -> list[Route]:
    return [
        Route("/v1/balance_transactions", stripe_endpoint(list_transactions), methods=["GET"]),
        Route("/v1/balance_transactions/{id}", stripe_endpoint(retrieve), methods=["GET"]),
    ]
