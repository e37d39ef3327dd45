"""A local stand-in for the part of Stripe's REST API tokenbill uses, on loopback only.

It answers the way Stripe does: form-encoded requests (`metadata[key]=...`), `Authorization:
Bearer sk_test_...` checked, Stripe's error objects (HTTP 402 `card_error` with `code` and
`decline_code`), idempotency keys that replay the first answer (`Idempotent-Replayed: true`) and
refuse a different request (400 `idempotency_error`), objects shaped like Stripe's (`cus_`, `pi_`,
`ch_`, `re_`, `pm_`, `txn_` ids, `object`, `status`, `latest_charge`), and Stripe's test payment
methods (test_cards.py), one of which loses its first answer.

Extension points (one module per Stripe resource):
- a resource module exposes `routes() -> list[starlette.routing.Route]` built with
  `endpoint.stripe_endpoint` (auth, form parsing, idempotency, faults and error objects are done
  there); add the module to `RESOURCE_MODULES` in app.py;
- state lives in `store.StandinStore` (in memory, one per app): `store.objects(kind)` is a dict
  per object kind, `store.new_id(prefix)` makes Stripe-like ids, `store.add_balance_transaction`
  keeps the balance transactions charges and refunds make (for a reconciliation to list);
- `store.emit(type, obj)` notes an event (`payment_intent.created`, `payment_intent.succeeded`,
  `payment_intent.payment_failed`, `payment_intent.requires_action`, `charge.succeeded`,
  `refund.created`, `charge.refunded`); the async callables in `store.event_listeners` hear each
  one, with a copy of the object, after the handler has released the store's lock (so a
  listener may send a webhook and wait for tokenbill's answer): an events module subscribes there;
- `errors.StripeError` (and its helpers) is the one way to answer an error;
- `forms.parse_form` turns a form body into nested dicts and lists.

Run it: `python -m tokenbill.devstack.stripe_standin --port 12111 --api-key sk_test_...`, or from
Python with `server.StandinServer` (a uvicorn server in a thread, for tests).
"""
