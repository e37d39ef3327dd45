"""The provider reconciliation, for finance staff: Stripe's balance transactions of a day against
the ledger's charges and refunds."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth.finance import FinanceStaff
from api.deps import Session, SettingsDep
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.openapi_errors import PROVIDER_ERRORS
from api.schemas.common import AUTH_ERRORS
from api.schemas.payments_provider import (
    ProviderMismatchOut,
    ProviderReconciliationIn,
    ProviderReconciliationOut,
)
from services.payments_provider.reconciliation import reconcile_day

router = APIRouter(prefix="/finance", tags=["finance"], responses=AUTH_ERRORS)


@router.post(
    "/provider-reconciliation",
    openapi_extra=IDEMPOTENT_ROUTE,
    response_model=ProviderReconciliationOut,
    responses=PROVIDER_ERRORS,
    summary="Reconcile a day with the payment provider",
    description="Requires finance staff and an `Idempotency-Key`. Reads Stripe's balance "
    "transactions created on the UTC `day` (charges, refunds) and compares them with the "
    "charges and refunds our purchases record for it: `provider_missing_in_ledger`, "
    "`provider_missing_at_provider`, `provider_amount_mismatch` (expected: Stripe's amount, "
    "actual: ours). The run and its mismatches are kept with the wallet reconciliation's runs "
    "(GET /admin/reconciliation); finance is notified of mismatches. Nothing is corrected. 409 "
    "`payment_provider_not_configured` unless PAYMENT_GATEWAY=stripe.",
)
async def run_provider_reconciliation(
    request: Request,
    principal: FinanceStaff,
    session: Session,
    settings: SettingsDep,
    body: ProviderReconciliationIn,
) -> JSONResponse:
    async def work() -> Answer:
        result = await reconcile_day(session, settings, body.day)
        out = ProviderReconciliationOut(
            run_id=result.run_id, day=result.day,
            provider_transactions=result.provider_transactions,
            ledger_operations=result.ledger_operations,
            mismatches=[ProviderMismatchOut.model_validate(m) for m in result.mismatches],
        )  # fmt: skip
        return Answer(200, out.model_dump(mode="json"))

    return await respond_once(session, request, principal, body, work)
