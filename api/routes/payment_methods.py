"""An organisation's saved card (Stripe): start saving one (a SetupIntent the client confirms)
and read the saved one. 409 `payment_provider_not_configured` unless PAYMENT_GATEWAY=stripe."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Buyer, Viewer, authorize_organization
from api.deps import OrganizationId, Session, SettingsDep
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.openapi_errors import PROVIDER_ERRORS
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS
from api.schemas.payments_provider import PaymentMethodSetupOut, SavedCardOut
from db.audit import Actor
from services.payments_provider import payment_methods

router = APIRouter(prefix="/organizations", tags=["payment method"], responses=AUTH_ERRORS)


@router.post(
    "/{organization_id}/payment-method/setup",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=201,
    response_model=PaymentMethodSetupOut,
    responses=PROVIDER_ERRORS,
    summary="Start saving a card for later charges",
    description="Requires `tokens.purchase` on the organization and an `Idempotency-Key`. "
    "Creates the organization's Stripe Customer on first need and a SetupIntent for "
    "off-session use; confirm it in the client (Stripe.js) with `client_secret` and "
    "`publishable_key`. The secret is in the first answer only (a replay of the key says null: "
    "start again with a new key). Once Stripe reports the SetupIntent succeeded, the card is "
    "the organization's default for renewals and top-ups. Audited.",
)
async def start_payment_method_setup(
    request: Request,
    principal: Buyer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> JSONResponse:
    await authorize_organization(request, principal, organization_id)

    async def work() -> Answer:
        started = await payment_methods.start_setup(
            session, settings, organization_id,
            actor=Actor.user(principal.id), context=audit_context(request),
        )  # fmt: skip
        kept = PaymentMethodSetupOut(
            setup_intent_id=started.setup_intent_id, client_secret=None,
            customer_id=started.customer_id, publishable_key=started.publishable_key,
        )  # fmt: skip
        # The client secret confirms the SetupIntent: shown once, never kept for a replay.
        return Answer(
            201, kept.model_dump(mode="json"), shown_once={"client_secret": started.client_secret}
        )

    return await respond_once(session, request, principal, None, work)


@router.get(
    "/{organization_id}/payment-method",
    summary="Read the saved card",
    responses=PROVIDER_ERRORS,
    description="Requires `tokens.view` on the organization. Brand, last four digits and "
    "expiry of the card renewals and top-ups charge; `saved` false when there is none.",
)
async def get_payment_method(
    request: Request,
    principal: Viewer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> SavedCardOut:
    await authorize_organization(request, principal, organization_id)
    card = await payment_methods.current_card(session, settings, organization_id)
    if card is None:
        return SavedCardOut(saved=False)
    return SavedCardOut(
        saved=True, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
        exp_year=card.exp_year,
    )  # fmt: skip
