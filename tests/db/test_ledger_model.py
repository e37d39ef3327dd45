"""The ledger against a model wallet (tests/db/ledger_model.py): credits with and without expiry,
single and batched spends (some too large), lot expiries, reversals, holds (some too large, some
already past their expiry, some of all that is available) with their captures (all or part, some
too large or too late), releases and expiries, purchase reversals of a lot whose tokens holds
need (the newest holds released) and their replays, replays of earlier keys with the same and
another amount, and spends racing a replay of their own key, in random order. After every step
the wallet's cached balance, its held tokens, its entries and its lots agree with the model,
nothing is below zero and every transaction of the wallet is balanced.

Hypothesis drives the steps from a thread of its own; each database call runs on the session's
event loop, where the connections live."""

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg import AsyncConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.errors import IdempotencyKeyReused, InsufficientBalance
from db.expiry import expire_lot
from db.holds import HoldOutcome, HoldRequest, SettleOutcome, place_hold, settle_hold
from db.spending import AlertDefaults, SpendContext, SpendOutcome, SpendRequest, spend, spend_batch
from tests.db.ledger_model import FirstResult, ModelHold, WalletModel
from tokenbill.settings import Settings, to_libpq_url

T = TypeVar("T")
Maker = async_sessionmaker[AsyncSession]
Conn = AsyncConnection[tuple[object, ...]]
NO_ALERTS = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
MODEL = SpendContext("system", "ledger-model")
REASON = "model usage"
EXPIRED_EARLY = datetime(2020, 1, 1, tzinfo=UTC)
EXPIRED_LATER = datetime(2021, 6, 1, tzinfo=UTC)
LATER = datetime(2099, 1, 1, tzinfo=UTC)
amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(300), places=4)
credits = st.decimals(min_value=Decimal(1), max_value=Decimal(600), places=2)
expiries = st.sampled_from([None, EXPIRED_EARLY, EXPIRED_LATER, LATER])
hold_expiries = st.sampled_from([LATER, LATER, EXPIRED_EARLY])
_wallet_numbers = itertools.count(1)

WALLET_STATE_SQL = """
SELECT w.current_balance,
       (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e
         WHERE e.account_id = w.ledger_account_id) AS entries,
       w.held_balance,
       (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e
          JOIN ledger_accounts a ON a.id = e.account_id
         WHERE a.code = 'held:org-' || w.organization_id) AS held_entries,
       (SELECT coalesce(sum(l.remaining_amount), 0) FROM token_lots l
         WHERE l.wallet_id = w.id) AS lots,
       (SELECT count(*) FROM (
          SELECT e.transaction_id FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
           WHERE t.wallet_id = w.id
           GROUP BY e.transaction_id HAVING sum(e.amount) <> 0 OR count(*) < 2) x) AS unbalanced
  FROM organization_token_wallets w WHERE w.id = :wallet
"""


class Database:
    """The session's loop, its session maker and a few autocommit connections for spends."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maker: Maker, conns: list[Conn]) -> None:
        self.loop = loop
        self.maker = maker
        self.conns = conns

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def new_wallet(self) -> tuple[int, int]:
        async with self.maker() as session, session.begin():
            org = await session.scalar(
                text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
                {"n": f"Ledger Model {next(_wallet_numbers)}"},
            )
            assert org is not None
            return int(org), await ledger.ensure_wallet(session, int(org))

    async def credit(
        self, wallet: int, amount: Decimal, key: str, expires: datetime | None
    ) -> tuple[ledger.Posting, int]:
        async with self.maker() as session, session.begin():
            posting = await ledger.credit(
                session, wallet_id=wallet, amount=amount, idempotency_key=key, expires_at=expires
            )
            lot = await session.scalar(
                text("SELECT id FROM token_lots WHERE transaction_id = :t"),
                {"t": posting.transaction_id},
            )
        return posting, int(lot or 0)

    async def reverse(self, wallet: int, amount: Decimal, key: str) -> ledger.Posting:
        async with self.maker() as session, session.begin():
            return await ledger.debit(
                session, wallet_id=wallet, amount=amount, idempotency_key=key, kind="reversal"
            )

    async def reverse_purchase(self, credit_key: str, key: str) -> ledger.Posting | None:
        async with self.maker() as session, session.begin():
            return await ledger.reverse_credit(
                session, credit_key=credit_key, idempotency_key=key, description="model refund",
                reference="model",
            )  # fmt: skip

    async def expire(self, lot: int) -> ledger.Posting | None:
        async with self.maker() as session, session.begin():
            return await expire_lot(session, lot)

    async def spend(self, request: SpendRequest, conn: int = 0) -> SpendOutcome:
        return await spend(self.conns[conn], request, NO_ALERTS, MODEL)

    async def spend_batch(self, requests: list[SpendRequest]) -> list[SpendOutcome]:
        return await spend_batch(self.conns[0], requests, NO_ALERTS, MODEL)

    async def race(self, requests: list[SpendRequest]) -> list[SpendOutcome]:
        """Each spend on a connection of its own, all at once."""
        return list(
            await asyncio.gather(
                *(self.spend(r, i % len(self.conns)) for i, r in enumerate(requests))
            )
        )

    async def hold(self, request: HoldRequest) -> HoldOutcome:
        return await place_hold(self.conns[0], request, MODEL)

    async def settle(
        self, org: int, hold_id: int, outcome: SettleOutcome, capture: Decimal | None
    ) -> HoldOutcome:
        return await settle_hold(self.conns[0], org, hold_id, outcome, capture, MODEL)

    async def wallet_state(self, wallet: int) -> tuple[Any, ...]:
        async with self.maker() as session:
            state = (await session.execute(text(WALLET_STATE_SQL), {"wallet": wallet})).one()
            lots = await session.execute(
                text("SELECT id, remaining_amount FROM token_lots WHERE wallet_id = :w"),
                {"w": wallet},
            )
        return (*state, {int(lot_id): remaining for lot_id, remaining in lots})


class LedgerMachine(RuleBasedStateMachine):
    database: ClassVar[Database]

    def __init__(self) -> None:
        super().__init__()
        self.model = WalletModel()
        self.keys = itertools.count(1)
        self.org, self.wallet = self.database.run(self.database.new_wallet())

    def key(self, kind: str) -> str:
        return f"model:{self.org}:{kind}-{next(self.keys)}"

    def request(self, amount: Decimal, key: str) -> SpendRequest:
        return SpendRequest(self.org, amount, key, REASON)

    @initialize(amount=credits)
    def fund(self, amount: Decimal) -> None:
        self.credit(amount, None)

    @rule(amount=credits, expires=expiries)
    def credit(self, amount: Decimal, expires: datetime | None) -> None:
        key = self.key("credit")
        posting, lot = self.database.run(self.database.credit(self.wallet, amount, key, expires))
        assert not posting.replayed
        assert posting.balance_after == self.model.balance + amount
        self.model.add_lot(lot, expires, amount)
        self.model.remember(
            key, FirstResult("credit", amount, posting.transaction_id, posting.balance_after)
        )
        self.model.credit_keys[lot] = key

    @rule(amount=amounts)
    def spend(self, amount: Decimal) -> None:
        key = self.key("spend")
        outcome = self.database.run(self.database.spend(self.request(amount, key)))
        self.check_fresh_spend(key, amount, outcome, self.model.balance, self.model.spendable)

    def check_fresh_spend(
        self, key: str, amount: Decimal, outcome: SpendOutcome, balance: Decimal, spendable: Decimal
    ) -> tuple[Decimal, Decimal]:
        """The outcome of a spend of a new key against a (cached, spendable) balance; both
        after it. A refusal reports the spendable balance, an applied spend the cached one."""
        if amount > spendable:
            assert (outcome.status, outcome.balance) == ("insufficient_balance", spendable)
            assert outcome.transaction_id is None
            return balance, spendable
        assert (outcome.status, outcome.balance) == ("applied", balance - amount)
        assert outcome.transaction_id is not None
        self.model.spend(amount)
        self.model.remember(
            key, FirstResult("spend", amount, outcome.transaction_id, balance - amount)
        )
        return balance - amount, spendable - amount

    def check_replayed_spend(self, key: str, amount: Decimal, outcome: SpendOutcome) -> None:
        first = self.model.results[key]
        if amount != first.amount:
            assert outcome.status == "idempotency_key_reused"
            return
        assert (outcome.status, outcome.transaction_id, outcome.balance) == (
            "replayed", first.transaction_id, first.balance_after,
        )  # fmt: skip

    @rule(data=st.data(), size=st.integers(min_value=1, max_value=5))
    def spend_batch(self, data: st.DataObject, size: int) -> None:
        items: list[tuple[str, Decimal]] = []
        for _ in range(size):
            earlier = self.model.keys_of("spend") + [k for k, _ in items]
            replay = bool(earlier) and data.draw(st.booleans(), label="replay")
            if replay:
                key = data.draw(st.sampled_from(earlier), label="key")
                known = dict(items).get(key) or self.model.results[key].amount
                same = data.draw(st.booleans(), label="same amount")
                items.append((key, known if same else known + 1))
            else:
                items.append((self.key("spend"), data.draw(amounts, label="amount")))
        requests = [self.request(amount, key) for key, amount in items]
        outcomes = self.database.run(self.database.spend_batch(requests))
        running = (self.model.balance, self.model.spendable)
        for (key, amount), outcome in zip(items, outcomes, strict=True):
            if key in self.model.results:
                self.check_replayed_spend(key, amount, outcome)
            else:
                running = self.check_fresh_spend(key, amount, outcome, *running)

    @rule(amount=amounts)
    def reverse(self, amount: Decimal) -> None:
        key = self.key("reversal")
        balance = self.model.balance
        if amount > balance:
            with pytest.raises(InsufficientBalance):
                self.database.run(self.database.reverse(self.wallet, amount, key))
            return
        posting = self.database.run(self.database.reverse(self.wallet, amount, key))
        assert (posting.replayed, posting.balance_after) == (False, balance - amount)
        self.model.draw(amount)
        self.model.remember(
            key, FirstResult("reversal", amount, posting.transaction_id, posting.balance_after)
        )

    @rule(data=st.data())
    def reverse_purchase(self, data: st.DataObject) -> None:
        """A refund's reversal of a purchase's lot (again: a replay): the available tokens
        first, then the newest active holds released whole (0024)."""
        lot_id = data.draw(st.sampled_from(sorted(self.model.credit_keys)), label="purchase")
        key = f"{self.model.credit_keys[lot_id]}:reversal"
        posting = self.database.run(
            self.database.reverse_purchase(self.model.credit_keys[lot_id], key)
        )
        if lot_id in self.model.reversals:
            first = self.model.reversals[lot_id]
            if first is None:
                assert posting is None
                return
            assert posting is not None and posting.replayed
            assert (posting.transaction_id, posting.balance_after) == (
                first.transaction_id, first.balance_after,
            )  # fmt: skip
            return
        lot = self.model.lot(lot_id)
        if lot.remaining == 0:
            assert posting is None
            self.model.reversals[lot_id] = None
            return
        self.model.release_for(lot.remaining - self.model.balance)
        assert posting is not None and not posting.replayed
        assert posting.amount == lot.remaining
        assert posting.balance_after == self.model.balance - lot.remaining
        self.model.reversals[lot_id] = FirstResult(
            "reversal", lot.remaining, posting.transaction_id, posting.balance_after
        )
        lot.remaining = Decimal(0)

    def expired_lots(self) -> list[int]:
        now = datetime.now(UTC)
        return [lot.lot_id for lot in self.model.lots if lot.expires_at and lot.expires_at < now]

    @precondition(lambda self: bool(self.expired_lots()))
    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        lot_id = data.draw(st.sampled_from(self.expired_lots()), label="lot")
        posting = self.database.run(self.database.expire(lot_id))
        if lot_id in self.model.expiries:
            first = self.model.expiries[lot_id]
            if first is None:
                assert posting is None
                return
            assert posting is not None and posting.replayed
            assert (posting.transaction_id, posting.amount, posting.balance_after) == (
                first.transaction_id, first.amount, first.balance_after,
            )  # fmt: skip
            return
        lot = self.model.lot(lot_id)
        if lot.remaining == 0:
            assert posting is None
            self.model.expiries[lot_id] = None
            return
        if lot.remaining > self.model.balance:
            assert posting is None  # held tokens need the lot: a later sweep books it
            return
        assert posting is not None and not posting.replayed
        assert posting.amount == lot.remaining
        assert posting.balance_after == self.model.balance - lot.remaining
        self.model.expiries[lot_id] = FirstResult(
            "expiry", lot.remaining, posting.transaction_id, posting.balance_after
        )
        lot.remaining = Decimal(0)

    @rule(amount=amounts, expires=hold_expiries)
    def hold(self, amount: Decimal, expires: datetime) -> None:
        key = self.key("hold")
        spendable, balance = self.model.spendable, self.model.balance
        outcome = self.database.run(
            self.database.hold(HoldRequest(self.org, amount, key, expires, "at:model"))
        )
        if amount > spendable:
            assert (outcome.status, outcome.balance) == (
                "insufficient_balance", max(spendable, Decimal(0)),
            )  # fmt: skip
            return
        assert (outcome.status, outcome.balance) == ("applied", balance - amount)
        assert outcome.hold_id is not None
        self.model.holds[outcome.hold_id] = ModelHold(amount, expires)
        again = self.database.run(
            self.database.hold(HoldRequest(self.org, amount, key, expires, "at:model"))
        )
        assert (again.status, again.hold_id) == ("replayed", outcome.hold_id)

    @precondition(lambda self: self.model.spendable > 0)
    @rule(expires=hold_expiries)
    def hold_all_available(self, expires: datetime) -> None:
        """A greedy hold, so that a later reversal finds its tokens held."""
        self.hold(self.model.spendable, expires)

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data(), part=st.sampled_from([None, Decimal("0.5"), Decimal(1), Decimal(2)]))
    def capture(self, data: st.DataObject, part: Decimal | None) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)), label="hold")
        hold = self.model.holds[hold_id]
        asked = None if part is None else (hold.amount * part).quantize(Decimal("0.0001"))
        capture = hold.amount if asked is None else asked
        outcome = self.database.run(self.database.settle(self.org, hold_id, "captured", asked))
        if hold.status == "captured" and hold.captured == capture:
            assert outcome.status == "replayed"
        elif hold.status != "active":
            assert outcome.status == "hold_not_active"
        elif hold.expired:
            assert outcome.status == "hold_expired"
        elif capture > hold.amount:
            assert outcome.status == "capture_exceeds_hold"
        else:
            assert outcome.status == "applied", outcome
            assert (outcome.captured_amount, outcome.released_amount) == (
                capture, hold.amount - capture,
            )  # fmt: skip
            self.model.settle(hold_id, "captured", capture)
            assert outcome.balance == self.model.balance

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data(), expire=st.booleans())
    def release(self, data: st.DataObject, expire: bool) -> None:
        """A release, or the expiry job's release of a hold past its expiry."""
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)), label="hold")
        hold = self.model.holds[hold_id]
        how: SettleOutcome = "expired" if expire else "released"
        outcome = self.database.run(self.database.settle(self.org, hold_id, how, None))
        if hold.status in ("released", "expired"):
            assert outcome.status == "replayed"
        elif hold.status == "captured":
            assert outcome.status == "hold_not_active"
        elif expire and not hold.expired:
            assert outcome.status == "hold_not_expired"
        else:
            assert outcome.status == "applied", outcome
            self.model.settle(hold_id, how, Decimal(0))
            assert outcome.balance == self.model.balance

    @precondition(lambda self: bool(self.model.results))
    @rule(data=st.data(), same=st.booleans())
    def replay(self, data: st.DataObject, same: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.results)), label="key")
        first = self.model.results[key]
        amount = first.amount if same else first.amount + Decimal("0.5")
        if first.kind == "spend":
            outcome = self.database.run(self.database.spend(self.request(amount, key)))
            self.check_replayed_spend(key, amount, outcome)
            return
        if not same:
            with pytest.raises(IdempotencyKeyReused):
                self.database.run(self.post_again(first.kind, key, amount))
            return
        posting = self.database.run(self.post_again(first.kind, key, amount))
        assert posting.replayed
        assert (posting.transaction_id, posting.balance_after) == (
            first.transaction_id, first.balance_after,
        )  # fmt: skip

    async def post_again(self, kind: str, key: str, amount: Decimal) -> ledger.Posting:
        if kind == "credit":
            # The expiry of a replayed credit is not compared: only the key and the amount are.
            posting, _ = await self.database.credit(self.wallet, amount, key, None)
            return posting
        return await self.database.reverse(self.wallet, amount, key)

    @rule(spends=st.lists(amounts, min_size=2, max_size=4))
    def race_with_a_replay(self, spends: list[Decimal]) -> None:
        """Concurrent spends on one wallet, the first sent twice at once under the same key."""
        keys = [self.key("spend") for _ in spends]
        requests = [self.request(a, k) for a, k in zip(spends, keys, strict=True)]
        outcomes = self.database.run(self.database.race([requests[0], *requests]))
        twin, first, others = outcomes[0], outcomes[1], outcomes[2:]
        by_key = dict(zip(keys, [first, *others], strict=True))
        assert {twin.status, first.status} in (
            {"applied", "replayed"}, {"insufficient_balance"},
        ), (twin, first)  # fmt: skip
        if twin.status == "applied":
            by_key[keys[0]] = twin
        if twin.succeeded:
            assert (twin.transaction_id, twin.balance) == (first.transaction_id, first.balance)
        spent = sum((o.amount for o in by_key.values() if o.status == "applied"), Decimal(0))
        after = self.model.spendable - spent
        assert after >= 0
        for key, outcome in by_key.items():
            if outcome.status == "applied":
                assert outcome.transaction_id is not None and outcome.balance is not None
                self.model.remember(
                    key,
                    FirstResult("spend", outcome.amount, outcome.transaction_id, outcome.balance),
                )
            else:
                # Balances only fall while the spends race: a refusal holds at the end too.
                assert outcome.status == "insufficient_balance", outcome
                assert outcome.amount > after
        self.model.spend(spent)

    @invariant()
    def books_agree_with_the_model(self) -> None:
        cached, entries, held, held_entries, lots, unbalanced, remaining = self.database.run(
            self.database.wallet_state(self.wallet)
        )
        expected, expected_held = self.model.balance, self.model.held
        assert (cached, entries) == (expected, expected)
        assert (held, held_entries) == (expected_held, expected_held)
        assert lots == expected + expected_held
        assert cached >= 0 and held >= 0
        assert unbalanced == 0
        assert remaining == {lot.lot_id: lot.remaining for lot in self.model.lots}


MODEL_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


async def test_ledger_keeps_the_books_of_the_model_wallet(
    db_settings: Settings, session_maker: Maker
) -> None:
    url = to_libpq_url(str(db_settings.database_url))
    conns = [await AsyncConnection.connect(url, autocommit=True) for _ in range(4)]
    try:
        LedgerMachine.database = Database(asyncio.get_running_loop(), session_maker, conns)
        await asyncio.to_thread(run_state_machine_as_test, LedgerMachine, settings=MODEL_SETTINGS)
    finally:
        for conn in conns:
            await conn.close()
