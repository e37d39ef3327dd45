"""`/admin/disputes`: the payment disputes still open (their tokens frozen), each decided by an
admin, release or forfeit, after a confirmation page; through the service the admin API calls
(services/payments_provider/disputes.py: ledger move, audit, finance notified)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.errors import ServiceError
from services.payments_provider import disputes
from web.context import Context, DbSession
from web.csrf import check_csrf
from web.pages.admin.access import AdminUser, notice, status_of
from web.templates import render

router = APIRouter()
OPEN = "frozen"
OPEN_SHOWN = 100
DisputeId = Annotated[int, Path(ge=1, le=2**62)]
Decision = Literal["release", "forfeit"]
DONE_OF: dict[str, str] = {"release": "dispute_released", "forfeit": "dispute_forfeited"}


async def _disputes_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    records, total = await disputes.list_disputes(session, status=OPEN, limit=OPEN_SHOWN, offset=0)
    return render(
        request, "admin_disputes.html", admin,
        {"disputes": records, "total": total, "notice": notice(done), "error": error},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/disputes")
async def disputes_page(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return await _disputes_page(request, session, admin, done=done)


@router.get("/admin/disputes/{dispute_id}/confirm/{decision}")
async def confirm_decision(
    request: Request,
    session: DbSession,
    admin: AdminUser,
    dispute_id: DisputeId,
    decision: Decision,
) -> Response:
    try:
        record = await disputes.get_dispute(session, dispute_id)
    except ServiceError as error:
        return await _disputes_page(request, session, admin, error=error.message,
                                    status_code=status_of(error))  # fmt: skip
    return render(
        request, "admin_dispute_confirm.html", admin, {"dispute": record, "decision": decision}
    )


@router.post("/admin/disputes/{dispute_id}/{decision}", dependencies=[Depends(check_csrf)])
async def decide(
    request: Request,
    session: DbSession,
    context: Context,
    admin: AdminUser,
    dispute_id: DisputeId,
    decision: Decision,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        await disputes.decide(
            session, dispute_id, decision, note.strip() or None,
            user_id=admin.user.id, context=context,
        )  # fmt: skip
    except ServiceError as error:
        await session.rollback()
        return await _disputes_page(request, session, admin, error=error.message,
                                    status_code=status_of(error))  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/admin/disputes?done={DONE_OF[decision]}", status_code=303)
