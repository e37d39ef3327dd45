"""The console inside the API's app: its pages (left out of the OpenAPI schema), its static
files, its security headers, and the pages its refusals become."""

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from web.errors import ConsoleForbidden, CsrfRefused, SignInRequired
from web.pages import (
    admin,
    api_docs,
    balance,
    finance,
    home,
    purchase,
    purchase_history,
    sign_in,
    subscription_commands,
    subscriptions,
    token_settings,
    wallet,
)
from web.security_headers import SecurityHeadersMiddleware
from web.templates import render

STATIC = Path(__file__).parent / "static"
CSRF_MESSAGE = (
    "This form was refused: it did not carry its security token. Reload the page and try again."
)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ConsoleForbidden):
        return render(request, "403.html", exc.user, {"message": exc.message}, status_code=403)
    return render(request, "403.html", None, {"message": CSRF_MESSAGE}, status_code=403)


def install_console(app: FastAPI) -> None:
    for pages in (
        home.router,
        sign_in.router,
        wallet.router,
        balance.router,
        purchase.router,
        purchase_history.router,
        subscriptions.router,
        subscription_commands.router,
        finance.router,
        admin.router,
        token_settings.router,
        api_docs.router,
    ):
        app.include_router(pages, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(ConsoleForbidden, _forbidden)
    app.add_exception_handler(CsrfRefused, _forbidden)
    app.add_middleware(SecurityHeadersMiddleware)
