"""The wallet overview (`/tokens`, TokenWalletWidget in the original) and the widget alone at
`/tokens/widget`, which the host application may frame (CONSOLE_WIDGET_FRAME_ANCESTORS).

Both read the widget in one prepared statement on the read pool, as GET wallet reads the wallet,
and open no ORM session (a refusal audits in a session of its own)."""

from typing import Annotated

from fastapi import APIRouter, Request, Response

from api.state import app_state
from db.directory import VIEW
from services.errors import ErrorKind, ServiceError
from services.wallet.widget import WalletWidget, wallet_widget
from web.auth import require
from web.console_user import ConsoleUser
from web.organization_choice import OrganizationChoice, chosen_organization
from web.security_headers import content_security_policy
from web.templates import render

router = APIRouter()


async def _widget_for(
    request: Request, user: ConsoleUser, organization_id: int | None
) -> WalletWidget | None:
    """The widget of the chosen organization (a user's own; an admin's choice), None when an
    admin has not chosen one or it does not exist."""
    chosen = await chosen_organization(request, user, organization_id)
    if chosen is None:
        return None
    state = app_state(request)
    try:
        return await wallet_widget(state.reads, state.settings, chosen)
    except ServiceError as error:
        if error.kind is ErrorKind.NOT_FOUND:
            return None
        raise


@router.get("/tokens")
async def wallet_page(
    request: Request,
    user: Annotated[ConsoleUser, require(VIEW)],
    organization_id: OrganizationChoice = None,
) -> Response:
    widget = await _widget_for(request, user, organization_id)
    return render(
        request, "wallet.html", user, {"widget": widget, "organization_id": organization_id}
    )


@router.get("/tokens/widget")
async def wallet_widget_alone(
    request: Request,
    user: Annotated[ConsoleUser, require(VIEW)],
    organization_id: OrganizationChoice = None,
) -> Response:
    widget = await _widget_for(request, user, organization_id)
    frame_ancestors = app_state(request).settings.console_widget_frame_ancestors
    policy = content_security_policy(frame_ancestors=frame_ancestors)
    return render(
        request, "widget_page.html", user, {"widget": widget},
        headers={"Content-Security-Policy": policy},
    )  # fmt: skip
