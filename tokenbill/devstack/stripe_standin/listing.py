"""Stripe's list objects: `{"object": "list", "data": [...], "has_more", "url"}`, newest first,
paged with `limit` and `starting_after`."""

from collections.abc import Callable, Iterable
from typing import Any

from tokenbill.devstack.stripe_standin.errors import invalid_request
from tokenbill.devstack.stripe_standin.store import StripeObject


def list_page(
    url: str,
    objects: Iterable[StripeObject],
    params: dict[str, Any],
    keep: Callable[[StripeObject], bool] = lambda _: True,
) -> dict[str, Any]:
    try:
        limit = int(params.get("limit", 10))
    except ValueError as bad:
        raise invalid_request("Invalid integer: limit", param="limit") from bad
    if not 1 <= limit <= 100:
        raise invalid_request("limit must be between 1 and 100", param="limit")
    # Insertion order is creation order; newest first like Stripe.
    rows = [o for o in reversed(list(objects)) if keep(o)]
    after = params.get("starting_after")
    if after:
        ids = [o["id"] for o in rows]
        rows = rows[ids.index(after) + 1 :] if after in ids else []
    return {"object": "list", "url": url, "has_more": len(rows) > limit, "data": rows[:limit]}
