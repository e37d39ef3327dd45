"""The balance history (`/tokens/balance`, BalanceHistoryPage in the original): the active holds
(amount, reason, reference, expiry); over a chosen range of UTC days, the balance at each day's
end and the tokens consumed per day as charts, and the movements with their reasons and
references, a page at a time."""

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from db.directory import VIEW
from db.models import TokenBalanceHistory, TokenHold
from db.wallets import HistoryFilter
from services.errors import ErrorKind, ServiceError
from services.wallet.balances import DayBalance, balance_per_day, list_balance_changes, start_of
from services.wallet.holds import page_of_holds
from web.auth import require
from web.console_user import ConsoleUser
from web.context import DbSession
from web.organization_choice import OrganizationChoice, chosen_organization
from web.templates import render

router = APIRouter()
PAGE_SIZE = 25
DEFAULT_DAYS = 30
MAX_PAGE = 100_000
HOLDS_SHOWN = 50
DayParameter = Annotated[str | None, Query(max_length=10)]


@dataclass(frozen=True)
class Movements:
    rows: list[TokenBalanceHistory]
    total: int
    page: int
    pages: int
    previous_url: str | None
    next_url: str | None


@dataclass(frozen=True)
class History:
    days: list[DayBalance]
    balance_chart: str
    consumption_chart: str
    movements: Movements
    holds: list[TokenHold]
    holds_total: int


def _day(value: str | None, default: date) -> date:
    """A day from a date field (YYYY-MM-DD); an empty field means the default."""
    return default if not value else date.fromisoformat(value)


def _chart(days: list[DayBalance], label: str, values: list[float], kind: str) -> str:
    """A chart's data for static/balance_charts.js: UTC midnights in seconds and the values."""
    return json.dumps({
        "label": label, "kind": kind, "values": values,
        "days": [int(start_of(day.day).timestamp()) for day in days],
    })  # fmt: skip


def _page_url(organization_id: int | None, first: date, last: date, page: int) -> str:
    query: dict[str, str | int] = {"from": first.isoformat(), "to": last.isoformat()}
    if organization_id is not None:
        query["organization_id"] = organization_id
    return f"/tokens/balance?{urlencode({**query, 'page': page})}"


async def _history(
    session: DbSession, organization_id: int, chosen: int | None, first: date, last: date, page: int
) -> History:
    days = await balance_per_day(session, organization_id, first, last)
    only = HistoryFilter(None, start_of(first), start_of(last + timedelta(days=1)))
    rows, total = await list_balance_changes(
        session, organization_id, only, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    holds, holds_total = await page_of_holds(
        session, organization_id, "active", limit=HOLDS_SHOWN, offset=0
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    movements = Movements(
        rows=rows, total=total, page=page, pages=pages,
        previous_url=_page_url(chosen, first, last, page - 1) if page > 1 else None,
        next_url=_page_url(chosen, first, last, page + 1) if page < pages else None,
    )  # fmt: skip
    return History(
        days=days,
        balance_chart=_chart(days, "Balance", [float(d.closing_balance) for d in days], "line"),
        consumption_chart=_chart(days, "Consumed", [float(d.consumed) for d in days], "bars"),
        movements=movements,
        holds=holds,
        holds_total=holds_total,
    )


@router.get("/tokens/balance")
async def balance_page(
    request: Request,
    session: DbSession,
    user: Annotated[ConsoleUser, require(VIEW)],
    organization_id: OrganizationChoice = None,
    first_day: Annotated[DayParameter, Query(alias="from")] = None,
    last_day: Annotated[DayParameter, Query(alias="to")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    chosen = await chosen_organization(request, user, organization_id)
    today = datetime.now(UTC).date()
    values = {"organization_id": organization_id, "first": first_day, "last": last_day}
    try:
        last = _day(last_day, today)
        first = _day(first_day, last - timedelta(days=DEFAULT_DAYS - 1))
        values |= {"first": first.isoformat(), "last": last.isoformat()}
        history = None if chosen is None else await _history(
            session, chosen, organization_id, first, last, page
        )  # fmt: skip
    except ValueError:
        return render(
            request, "balance.html", user,
            {**values, "error": "Give the days as YYYY-MM-DD."}, status_code=422,
        )  # fmt: skip
    except ServiceError as error:
        if error.kind is ErrorKind.NOT_FOUND:
            return render(request, "balance.html", user, {**values, "history": None})
        if error.kind is ErrorKind.INVALID:
            return render(
                request, "balance.html", user, {**values, "error": error.message}, status_code=422
            )
        raise
    return render(request, "balance.html", user, {**values, "history": history})
