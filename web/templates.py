"""The Jinja2 environment (autoescaped) and `render`, which gives every page the layout's needs:
the user, its navigation and the CSRF token for its forms."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from domain.amounts import money_text, plain_decimal
from web.console_user import ConsoleUser
from web.csrf import csrf_token, keep_csrf_cookie
from web.navigation import navigation_for

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# The templates ship with the code: no file check on every render.
TEMPLATES.env.auto_reload = False


def tokens(amount: Decimal | None) -> str:
    """Token amounts as the API writes them (exact decimals), without trailing zeros."""
    return "-" if amount is None else plain_decimal(amount)


def money(amount: Decimal | None, currency: str) -> str:
    return "-" if amount is None else f"{money_text(amount)} {currency}"


def utc(moment: datetime | date | None) -> str:
    """Dates as ISO 8601 in UTC, saying so (a timestamp without a zone is taken as UTC)."""
    if moment is None:
        return "-"
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat()


TEMPLATES.env.filters["tokens"] = tokens
TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["utc"] = utc


def render(
    request: Request,
    template: str,
    user: ConsoleUser | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    values = {
        "user": user,
        "navigation": navigation_for(user),
        "csrf_token": csrf_token(request),
        **(context or {}),
    }
    response = TEMPLATES.TemplateResponse(
        request, template, values, status_code=status_code, headers=headers
    )
    keep_csrf_cookie(request, response)
    return response
