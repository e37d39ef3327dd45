"""The console's browser security headers: a Content-Security-Policy (scripts only from this
site, no inline script, no framing unless a route says otherwise), nosniff and a referrer policy,
on every answer that does not set its own policy."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(
    *, frame_ancestors: str = "'none'", inline_styles: bool = False, workers: bool = False
) -> str:
    """The policy; the API docs need inline styles (their libraries inject them) and Redoc a
    worker made from a blob."""
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        f"style-src {style}",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ]
    if workers:
        directives.append("worker-src 'self' blob:")
    return "; ".join(directives)


DEFAULT_POLICY = content_security_policy()


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = DEFAULT_POLICY
                    headers["X-Frame-Options"] = "DENY"
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)
