"""The money rules after the run: purchases finished once, charges and tokens paired by business
key, one charge per business key, spends applied exactly once as answered."""

from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.book import Book
from chaos.gateway_book import SANDBOX_BOOK, GatewayBook
from chaos.verdict import Verdict

TERMINAL_ACTIONS = ("purchase.complete", "purchase.fail", "purchase.refund")

PURCHASE_PAIRS_SQL = """
SELECT p.purchase_reference_id AS ref, p.purchase_type, p.status, p.total_amount,
       p.token_quantity, c.status AS charge_status, c.amount AS charged,
       r.status AS refund_status, cr.amount AS credited, rv.id AS reversal
  FROM token_purchases p
  LEFT JOIN {book} c
         ON c.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:charge'
  LEFT JOIN {book} r
         ON r.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:refund'
  LEFT JOIN ledger_transactions cr
         ON cr.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:credit'
  LEFT JOIN ledger_transactions rv
         ON rv.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:reversal'
 WHERE p.purchase_type <> 'subscription'
"""
ORPHAN_PURCHASE_MONEY_SQL = """
SELECT idempotency_key FROM {book} g
 WHERE g.idempotency_key LIKE 'purchase:%' AND g.operation = 'charge'
   AND NOT EXISTS (SELECT 1 FROM token_purchases p
                    WHERE g.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:charge')
UNION ALL
SELECT idempotency_key FROM ledger_transactions t
 WHERE t.idempotency_key LIKE 'purchase:%\\:credit'
   AND NOT EXISTS (SELECT 1 FROM token_purchases p
                    WHERE t.idempotency_key = 'purchase:' || p.purchase_reference_id || '\\:credit')
"""
SUBSCRIPTION_PERIODS_SQL = """
WITH charges AS (
  SELECT regexp_replace(idempotency_key, '\\:charge(:[0-9]+)?$', '') AS period,
         count(*) FILTER (WHERE status = 'succeeded') AS paid, count(*) AS attempts
    FROM {book} g
   WHERE operation = 'charge' AND idempotency_key LIKE 'subscription:%'
   GROUP BY 1),
credits AS (
  SELECT regexp_replace(idempotency_key, '\\:credit$', '') AS period, amount
    FROM ledger_transactions WHERE idempotency_key LIKE 'subscription:%\\:credit')
SELECT coalesce(ch.period, cr.period) AS period, coalesce(ch.paid, 0) AS paid,
       coalesce(ch.attempts, 0) AS attempts, cr.amount AS credited
  FROM charges ch FULL JOIN credits cr ON cr.period = ch.period
"""


async def purchases_finished_once(session: AsyncSession, book: Book) -> Verdict:
    refs = list(book.purchases.values())
    verdict = Verdict(
        "every accepted purchase completed or failed exactly once",
        f"{len(refs)} accepted purchases",
    )
    if len(set(refs)) != len(refs):
        verdict.violations.append("two Idempotency-Keys were answered with one purchase")
    rows = await session.execute(
        text(
            "SELECT purchase_reference_id, status FROM token_purchases "
            "WHERE purchase_reference_id = ANY(:refs)"
        ),
        {"refs": refs},
    )
    status = {r.purchase_reference_id: r.status for r in rows}
    finished = await session.execute(
        text(
            "SELECT target_id, count(*) AS n FROM token_audit_logs WHERE action = ANY(:a) "
            "AND target_id = ANY(:refs) GROUP BY target_id"
        ),
        {"a": list(TERMINAL_ACTIONS), "refs": refs},
    )
    endings = {r.target_id: r.n for r in finished}
    for ref in refs:
        if ref not in status:
            verdict.violations.append(f"purchase {ref} was accepted but has no row")
        elif status[ref] not in ("completed", "failed", "refunded"):
            verdict.violations.append(f"purchase {ref} is still {status[ref]}")
        elif endings.get(ref, 0) != 1:
            verdict.violations.append(f"purchase {ref} finished {endings.get(ref, 0)} times")
    unknown = await session.scalar(
        text(
            "SELECT count(*) FROM token_purchases WHERE purchase_type = 'one_time' "
            "AND NOT purchase_reference_id = ANY(:refs)"
        ),
        {"refs": refs},
    )
    purchase_unknowns = sum("/purchases " in u for u in book.unanswered)
    if int(unknown or 0) > purchase_unknowns:
        verdict.violations.append(f"{unknown} purchases exist that no client was answered with")
    return verdict


async def charges_paired_with_tokens(
    session: AsyncSession, gateway: GatewayBook = SANDBOX_BOOK
) -> Verdict:
    verdict = Verdict("no charge without its tokens, no tokens without their charge")
    purchases = list(await session.execute(text(gateway.sql(PURCHASE_PAIRS_SQL)), gateway.params()))
    for p in purchases:
        money = p.charge_status == "succeeded" and p.refund_status != "succeeded"
        tokens = p.credited is not None and p.reversal is None
        where = f"{p.purchase_type} purchase {p.ref} ({p.status})"
        if money != tokens:
            what = "charge without its tokens" if money else "tokens without their charge"
            verdict.violations.append(f"{where}: {what}")
        if money and p.charged != p.total_amount:
            verdict.violations.append(f"{where}: charged {p.charged}, priced {p.total_amount}")
        if tokens and p.credited != p.token_quantity:
            verdict.violations.append(f"{where}: credited {p.credited} of {p.token_quantity}")
        if p.status == "completed" and not (money and tokens):
            verdict.violations.append(f"{where}: completed without money and tokens kept")
        if p.status == "refunded" and (money or tokens):
            verdict.violations.append(f"{where}: refunded but money or tokens kept")
    orphans = await session.scalars(text(gateway.sql(ORPHAN_PURCHASE_MONEY_SQL)), gateway.params())
    for orphan in orphans:
        verdict.violations.append(f"{orphan} belongs to no purchase")
    periods = list(
        await session.execute(text(gateway.sql(SUBSCRIPTION_PERIODS_SQL)), gateway.params())
    )
    for period in periods:
        if period.paid >= 1 and period.credited is None:
            verdict.violations.append(f"{period.period}: charge without its tokens")
        if period.paid == 0 and period.credited is not None:
            verdict.violations.append(f"{period.period}: tokens without their charge")
    paid_periods = sum(1 for period in periods if period.paid)
    kinds = Counter(p.purchase_type for p in purchases)
    verdict.looked_at = (
        f"{kinds['one_time']} purchases, {kinds['auto_topup']} top-ups, {paid_periods} paid "
        f"subscription periods of {len(periods)} billed"
    )
    return verdict


async def one_charge_per_business_key(
    session: AsyncSession, gateway: GatewayBook = SANDBOX_BOOK
) -> Verdict:
    verdict = Verdict("no duplicate charge at the gateway for one business key")
    periods = await session.execute(text(gateway.sql(SUBSCRIPTION_PERIODS_SQL)), gateway.params())
    for period in periods:
        if period.paid > 1:
            verdict.violations.append(f"{period.period}: charged {period.paid} times")
    shared = await session.execute(
        text(
            "SELECT purchase_reference_id, count(*) AS n FROM auto_topups "
            "WHERE purchase_reference_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1"
        )
    )
    for row in shared:
        verdict.violations.append(f"top-up purchase {row[0]} recorded by {row[1]} triggers")
    untriggered = await session.scalars(
        text(
            "SELECT p.purchase_reference_id FROM token_purchases p "
            "WHERE p.purchase_type = 'auto_topup' AND NOT EXISTS (SELECT 1 FROM auto_topups t "
            "WHERE t.purchase_reference_id = p.purchase_reference_id)"
        )
    )
    for ref in untriggered:
        verdict.violations.append(f"top-up purchase {ref} has no trigger of its own")
    counts = (
        await session.execute(
            text(
                gateway.sql(
                    "SELECT count(*) AS keys, count(*) FILTER (WHERE attempts > 1) AS repeated, "
                    "coalesce(sum(attempts), 0) AS calls FROM {book} g WHERE operation = 'charge'"
                )
            ),
            gateway.params(),
        )
    ).one()
    verdict.looked_at = (
        f"{counts.keys} charge keys, {counts.calls} calls; {counts.repeated} "
        "keys sent more than once, each recorded once"
    )
    return verdict


async def spends_applied_as_answered(session: AsyncSession, book: Book) -> Verdict:
    verdict = Verdict(
        "every accepted spend applied exactly once; every refused spend left nothing",
        f"{len(book.spends)} accepted, {len(book.refused_spends)} refused "
        f"({dict(Counter(book.refused_spends.values()))})",
    )
    rows = await session.execute(
        # Hold captures are consumption too; chaos/holds_checks.py checks them.
        text(
            "SELECT idempotency_key, amount FROM ledger_transactions WHERE kind = 'consumption' "
            "AND idempotency_key NOT LIKE 'hold:%'"
        )
    )
    booked = {r.idempotency_key: r.amount for r in rows}
    for (org, key), amount in book.spends.items():
        found = booked.pop(f"consume:{org}:{key}", None)
        if found is None:
            verdict.violations.append(f"accepted spend {key} of organization {org} is missing")
        elif found != amount:
            verdict.violations.append(f"spend {key} booked {found}, asked {amount}")
    for org, key in book.refused_spends:
        if booked.pop(f"consume:{org}:{key}", None) is not None:
            verdict.violations.append(f"refused spend {key} of organization {org} was booked")
    if len(booked) > len(book.unanswered):
        verdict.violations.append(f"{len(booked)} spends booked that no client was answered on")
    return verdict
