"""The invoice list (filters, own organization only) and the printable, escaped HTML page."""

from collections.abc import Awaitable, Callable

import httpx

from tests.api.helpers import ApiUser, Maker, MakeUser
from tests.finance_helpers import insert_invoice

MakeOrganization = Callable[..., Awaitable[int]]


async def test_invoice_list_filters_by_status_and_issue_date(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization: MakeOrganization,
    session_maker: Maker,
):  # fmt: skip
    org = await make_organization()
    viewer = await make_user(org, ("tokens.view",))
    january = await insert_invoice(session_maker, organization_id=org, total="10.00",
                                   status="paid", issue_date="2026-01-10")  # fmt: skip
    february = await insert_invoice(session_maker, organization_id=org, total="20.00",
                                    status="open", issue_date="2026-02-10")  # fmt: skip
    march = await insert_invoice(session_maker, organization_id=org, total="30.00",
                                 status="paid", issue_date="2026-03-10")  # fmt: skip

    async def numbers(query: str) -> list[str]:
        response = await client.get(f"/api/tokens/invoices?{query}", headers=viewer.headers())
        assert response.status_code == 200
        return [item["invoice_number"] for item in response.json()["items"]]

    assert await numbers("") == [march, february, january]
    assert await numbers("status=paid") == [march, january]
    assert await numbers("issued_from=2026-02-01&issued_to=2026-03-10") == [march, february]
    page = await client.get("/api/tokens/invoices?limit=1&offset=1", headers=viewer.headers())
    assert page.json()["total"] == 3
    assert [i["invoice_number"] for i in page.json()["items"]] == [february]
    assert page.json()["items"][0]["total"] == "20.00"
    assert page.json()["items"][0]["html_url"] == f"/api/tokens/invoices/{february}.html"


async def test_a_user_sees_only_its_own_organizations_invoices(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization: MakeOrganization,
    session_maker: Maker, admin: ApiUser,
):  # fmt: skip
    mine, theirs = await make_organization(), await make_organization()
    viewer = await make_user(mine, ("tokens.view",))
    own = await insert_invoice(session_maker, organization_id=mine, total="5.00", status="paid")
    other = await insert_invoice(session_maker, organization_id=theirs, total="6.00", status="paid")

    listed = await client.get("/api/tokens/invoices", headers=viewer.headers())
    refused = await client.get(
        f"/api/tokens/invoices?organization_id={theirs}", headers=viewer.headers()
    )
    page = await client.get(f"/api/tokens/invoices/{other}.html", headers=viewer.headers())
    by_admin = await client.get(
        f"/api/tokens/invoices?organization_id={theirs}", headers=admin.headers()
    )

    assert [i["invoice_number"] for i in listed.json()["items"]] == [own]
    assert refused.status_code == 403
    assert page.status_code == 403
    assert [i["invoice_number"] for i in by_admin.json()["items"]] == [other]


async def test_the_printable_invoice_escapes_every_value(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization: MakeOrganization,
    session_maker: Maker,
):  # fmt: skip
    org = await make_organization('Evil <script>alert("org")</script> & Co')
    viewer = await make_user(org, ("tokens.view",))
    number = await insert_invoice(
        session_maker, organization_id=org, total="12.50", status="open",
        description='<img src=x onerror="alert(1)"> Pack & more',
    )  # fmt: skip

    response = await client.get(f"/api/tokens/invoices/{number}.html", headers=viewer.headers())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page and "<img" not in page
    assert "Evil &lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; &amp; Co" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; Pack &amp; more" in page
    assert f"Invoice {number}" in page
    assert "12.50 XTS" in page


async def test_an_unknown_invoice_page_is_not_found(client: httpx.AsyncClient, admin: ApiUser):
    response = await client.get(
        "/api/tokens/invoices/TOK-1999-999999.html", headers=admin.headers()
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "invoice_not_found"


async def test_the_json_invoice_route_still_answers_beside_the_page(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker,
    make_organization: MakeOrganization,
):  # fmt: skip
    org = await make_organization()
    number = await insert_invoice(session_maker, organization_id=org, total="7.00", status="paid")
    response = await client.get(f"/api/tokens/invoices/{number}", headers=admin.headers())
    assert response.status_code == 200
    assert response.json()["total"] == "7.00"
