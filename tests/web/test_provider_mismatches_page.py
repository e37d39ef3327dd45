"""The admin's reconciliation page shows the provider reconciliation's mismatches as money, with
the side each amount comes from."""

import uuid
from decimal import Decimal

import httpx

from db.provider_reconciliation import ProviderMismatch, record_provider_mismatches
from db.reconciliation import begin_reconciliation_run, conclude_reconciliation_run
from tests.api.helpers import Maker
from tests.web.conftest import MakeConsoleUser, sign_in


async def test_reconciliation_page_shows_provider_mismatches(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, session_maker: Maker
) -> None:
    subject = f"charge:ch_page_{uuid.uuid4().hex[:10]}"
    async with session_maker() as session, session.begin():
        run_id = await begin_reconciliation_run(session, f"provider-page-test-{uuid.uuid4()}")
        await record_provider_mismatches(
            session, run_id,
            [ProviderMismatch("provider_missing_in_ledger", subject, None, None,
                              Decimal("12.34"), Decimal(0))],
        )  # fmt: skip
        await conclude_reconciliation_run(
            session, run_id=run_id, wallets_checked=0, transactions_checked=1
        )
    admin = await make_console_user(None, (), role="admin")
    await sign_in(console, admin.email)
    page = await console.get("/admin/reconciliation")
    assert page.status_code == 200
    row = next(line for line in page.text.splitlines() if subject in line)
    assert "provider_missing_in_ledger" in row
    assert "12.3400 (Stripe)" in row and "0.0000 (ledger)" in row
    assert "None" not in row
