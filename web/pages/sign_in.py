"""Signing in and out: the sign-in form, its POST (throttled, audited), and the sign-out that
ends the session server-side."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from services.errors import ErrorKind, ServiceError
from services.sign_in.sessions import sign_in, sign_out
from web.auth import MaybeSignedIn, SignedIn, forget_console_session
from web.context import ConsoleSettings, Context, DbSession
from web.cookies import clear_session_cookie, set_session_cookie
from web.csrf import check_csrf
from web.pages.home import landing
from web.templates import render

router = APIRouter()
HOME = "/tokens"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not target:
        return HOME
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host": both are refused, like any scheme or host.
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return HOME
    return target


@router.get("/sign-in")
async def sign_in_page(request: Request, user: MaybeSignedIn, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next) if next else landing(user.user), status_code=303)
    # Without a page to return to, the form sends none: the user's landing page follows.
    return render(
        request, "sign_in.html", None, {"next": safe_next(next) if next else "", "email": ""}
    )


@router.post("/sign-in", dependencies=[Depends(check_csrf)])
async def sign_in_submit(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    context: Context,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        signed_in = await sign_in(session, settings, email, password, context)
    except ServiceError as refusal:
        status = 429 if refusal.kind is ErrorKind.RATE_LIMITED else 401
        headers = (
            {"Retry-After": str(refusal.retry_after_seconds)}
            if refusal.retry_after_seconds
            else None
        )
        return render(
            request, "sign_in.html", None,
            {"next": safe_next(next) if next else "", "email": email, "error": refusal.message},
            status_code=status, headers=headers,
        )  # fmt: skip
    target = safe_next(next) if next else landing(signed_in.user)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, signed_in.token)
    return response


@router.post("/sign-out", dependencies=[Depends(check_csrf)])
async def sign_out_submit(request: Request, session: DbSession, user: SignedIn) -> Response:
    await sign_out(session, user.session_token, user.user)
    forget_console_session()
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session_cookie(request, response)
    return response
