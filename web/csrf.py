"""CSRF protection of every state-changing console form: a double-submit token.

A random token lives in an HttpOnly, SameSite=Strict cookie and is written into every form as
the hidden field `csrf_token`; a POST whose field does not equal its cookie is refused. Another
site can make the browser send the cookie but can neither read it nor set it, so it cannot
write the field.
"""

import hmac
import secrets

from fastapi import Request, Response

from web.cookies import CSRF_COOKIE, is_https
from web.errors import CsrfRefused

FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one the response must set."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = getattr(request.state, "new_csrf_token", None) or secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return token


def keep_csrf_cookie(request: Request, response: Response) -> None:
    """Set the cookie when this request made a new token."""
    token = getattr(request.state, "new_csrf_token", None)
    if token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/"
        )


async def check_csrf(request: Request) -> None:
    """Refuse a POST whose form field does not match the cookie (a dependency of every POST)."""
    form = await request.form()
    sent = form.get(FIELD)
    expected = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfRefused()
