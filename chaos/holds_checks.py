"""The money check of holds after the run: each hold settled as its client was answered, none
both captured and released in full, its ledger transactions the size of its figures, held
tokens never negative and equal to the active holds, and no hold left active long past its
expiry (the expireHolds job runs every minute)."""

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.holds_book import HoldAnswers
from chaos.verdict import Verdict

# Beyond the job's minute: a run that starts late, and the settle step's own pace.
EXPIRY_GRACE = timedelta(seconds=90)

# text() reads ":name" as a parameter; the ledger keys' colons are escaped.
HOLDS_SQL = """
SELECT h.id, h.organization_id, h.amount, h.status, h.captured_amount, h.released_amount,
       h.expires_at < now() - :grace AS overdue,
       (SELECT t.amount FROM ledger_transactions t
         WHERE t.idempotency_key = 'hold:' || h.id || '\\:capture') AS capture_booked,
       (SELECT t.amount FROM ledger_transactions t
         WHERE t.idempotency_key = 'hold:' || h.id || '\\:release') AS release_booked
  FROM token_holds h
"""
HELD_SQL = """
SELECT w.organization_id, w.held_balance,
       (SELECT coalesce(sum(h.amount), 0) FROM token_holds h
         WHERE h.organization_id = w.organization_id AND h.status = 'active') AS active
  FROM organization_token_wallets w
"""


async def holds_settled_as_answered(session: AsyncSession, answers: HoldAnswers) -> Verdict:
    verdict = Verdict(
        "every hold settled once, as its client was answered; held tokens exact",
        f"{len(answers.holds)} holds made ({answers.refused} refused), "
        f"{len(answers.captured)} answered captured, {len(answers.released)} released",
    )
    problems = verdict.violations
    rows = await session.execute(text(HOLDS_SQL), {"grace": EXPIRY_GRACE})
    seen: set[int] = set()
    for h in rows:
        seen.add(h.id)
        captured = h.capture_booked or 0
        released = h.release_booked or 0
        if h.status == "active":
            if captured or released:
                problems.append(f"active hold {h.id} has ledger movements")
            if h.overdue:
                problems.append(f"hold {h.id} is still active long after its expiry")
        elif (captured, released) != (h.captured_amount, h.released_amount) or (
            captured + released != h.amount
        ):
            problems.append(
                f"hold {h.id} ({h.status}) of {h.amount}: booked capture {captured}, "
                f"release {released}; its row says {h.captured_amount} and {h.released_amount}"
            )
        if h.status != "captured" and captured:
            problems.append(f"hold {h.id} is {h.status} but a capture was booked")
        if h.id in answers.captured and (h.status, h.captured_amount) != (
            "captured", answers.captured[h.id],
        ):  # fmt: skip
            problems.append(f"hold {h.id} answered captured, is {h.status} {h.captured_amount}")
        if h.id in answers.released and h.status not in ("released", "expired"):
            problems.append(f"hold {h.id} answered released, is {h.status}")
    problems.extend(f"hold {i} answered made is missing" for i in answers.holds if i not in seen)
    for w in await session.execute(text(HELD_SQL)):
        if w.held_balance < 0 or w.held_balance != w.active:
            problems.append(
                f"organization {w.organization_id} holds {w.held_balance}, active holds {w.active}"
            )
    return verdict
