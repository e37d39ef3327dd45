"""The wallet page reads the wallet as the database has it now (a spend shows on the next page)
with its last five movements, newest first; a refused page is audited though the page itself
opens no ORM session."""

import re

import httpx

from db import directory
from tests.api.helpers import Maker, denied_audit_rows, new_request_id
from tests.web.conftest import MakeConsoleUser, sign_in
from tests.web.test_balance import move

ROW = re.compile(
    r"<tr>\s*<td>[^<]+ UTC</td>\s*<td>([^<]+)</td>\s*"
    r'<td class="num">([^<]+)</td>\s*<td class="num">([^<]+)</td>\s*</tr>'
)


def balance_of(page: httpx.Response) -> str:
    found = re.search(r'data-testid="balance">([^<]+)<', page.text)
    assert found, page.text
    return found.group(1)


async def test_a_spend_shows_on_the_next_page_with_the_last_five_movements_newest_first(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    await move(session_maker, organization, "1000", "TKP-OPEN", "Opening")
    for number in range(1, 6):
        await move(session_maker, organization, f"-{number}", f"use-{number}", f"Use {number}")
    user = await make_console_user(organization)
    await sign_in(console, user.email)

    before = await console.get("/tokens")
    assert balance_of(before) == "985"
    assert ROW.findall(before.text) == [
        ("consumption: Use 5", "-5", "985"),
        ("consumption: Use 4", "-4", "990"),
        ("consumption: Use 3", "-3", "994"),
        ("consumption: Use 2", "-2", "997"),
        ("consumption: Use 1", "-1", "999"),
    ]
    await move(session_maker, organization, "-0.5", "use-6", "Use 6")
    after = await console.get("/tokens")
    assert balance_of(after) == "984.5"
    rows = ROW.findall(after.text)
    assert len(rows) == 5 and rows[0] == ("consumption: Use 6", "-0.5", "984.5")


async def test_another_organizations_wallet_refused_is_audited(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    viewer = await make_console_user(await make_organization())
    other = await make_organization()
    await sign_in(console, viewer.email)
    request_id = new_request_id()
    page = await console.get(
        f"/tokens?organization_id={other}", headers={"X-Request-ID": request_id}
    )
    assert page.status_code == 403 and "your own organization" in page.text
    assert await denied_audit_rows(session_maker, request_id) == 1


async def test_the_wallet_refused_for_want_of_the_permission_is_audited(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    consumer = await make_console_user(await make_organization(), (directory.CONSUME,))
    await sign_in(console, consumer.email)
    request_id = new_request_id()
    page = await console.get("/tokens", headers={"X-Request-ID": request_id})
    assert page.status_code == 403 and "tokens.view" in page.text
    assert await denied_audit_rows(session_maker, request_id) == 1
