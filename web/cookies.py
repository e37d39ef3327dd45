"""The console's two cookies: the session token and the CSRF token. Both HttpOnly (no script
reads them; the CSRF token reaches forms through the page), Secure when served over https."""

from fastapi import Request, Response

SESSION_COOKIE = "tokenbill_session"
CSRF_COOKIE = "tokenbill_csrf"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    # No max-age: the server decides when a session ends; the browser drops it when closed.
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=is_https(request), path="/"
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=is_https(request), path="/"
    )
