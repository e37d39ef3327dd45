"""A wallet as the ledger should keep it, in memory: lots drawn first-to-expire (no expiry last),
then oldest first, a spend from unexpired lots only; holds that take tokens out of the balance
until they are captured (lots drawn then, expired ones first), released or expired, or released
by a purchase reversal that needs their tokens (newest first); the first result of every
idempotency key, which a replay must return."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal


@dataclass
class ModelLot:
    lot_id: int
    sequence: int
    expires_at: datetime | None
    remaining: Decimal

    def draw_order(self) -> tuple[bool, datetime | None, int]:
        return (self.expires_at is None, self.expires_at, self.sequence)

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)


@dataclass(frozen=True)
class FirstResult:
    """What a movement answered the first time its key was used."""

    kind: str
    amount: Decimal
    transaction_id: int
    balance_after: Decimal


@dataclass
class ModelHold:
    amount: Decimal
    expires_at: datetime
    status: str = "active"
    captured: Decimal = Decimal(0)

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)


@dataclass
class WalletModel:
    lots: list[ModelLot] = field(default_factory=list)
    results: dict[str, FirstResult] = field(default_factory=dict)
    expiries: dict[int, FirstResult | None] = field(default_factory=dict)
    holds: dict[int, ModelHold] = field(default_factory=dict)
    credit_keys: dict[int, str] = field(default_factory=dict)  # lot id -> its credit's key
    reversals: dict[int, FirstResult | None] = field(default_factory=dict)  # by lot id

    @property
    def held(self) -> Decimal:
        return sum((h.amount for h in self.holds.values() if h.status == "active"), Decimal(0))

    @property
    def balance(self) -> Decimal:
        """The cached balance: expired lots count until their expiry is booked; held tokens are
        out of it (their lots are drawn only when a hold is captured)."""
        return sum((lot.remaining for lot in self.lots), Decimal(0)) - self.held

    @property
    def spendable(self) -> Decimal:
        """What a spend or a new hold may take (negative while holds need expired lots)."""
        unexpired = sum((lot.remaining for lot in self.lots if not lot.expired), Decimal(0))
        return unexpired - self.held

    def add_lot(self, lot_id: int, expires_at: datetime | None, amount: Decimal) -> None:
        self.lots.append(ModelLot(lot_id, len(self.lots), expires_at, amount))

    def spend(self, amount: Decimal) -> None:
        """A spend: unexpired lots only."""
        assert amount <= self.spendable, "the model never spends more than is spendable"
        self._draw(amount, [lot for lot in self.lots if not lot.expired])

    def draw(self, amount: Decimal) -> None:
        """Any other debit (a reversal, a capture): every lot, expired ones first."""
        assert amount <= self.balance + self.held, "the model never draws more than it holds"
        self._draw(amount, self.lots)

    def settle(self, hold_id: int, status: str, captured: Decimal) -> None:
        hold = self.holds[hold_id]
        assert hold.status == "active"
        hold.status, hold.captured = status, captured
        if captured:
            self.draw(captured)

    def release_for(self, shortfall: Decimal) -> None:
        """A reversal short of available tokens: the newest active holds are released, each in
        full, until `shortfall` tokens are back in the balance."""
        freed = Decimal(0)
        for hold_id in sorted(self.holds, reverse=True):
            if freed >= shortfall:
                break
            if self.holds[hold_id].status == "active":
                freed += self.holds[hold_id].amount
                self.settle(hold_id, "released", Decimal(0))

    @staticmethod
    def _draw(amount: Decimal, lots: list[ModelLot]) -> None:
        left = amount
        for lot in sorted(lots, key=ModelLot.draw_order):
            if left == 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take

    def lot(self, lot_id: int) -> ModelLot:
        return next(lot for lot in self.lots if lot.lot_id == lot_id)

    def remember(self, key: str, result: FirstResult) -> None:
        assert key not in self.results, f"key {key} used twice"
        self.results[key] = result

    def keys_of(self, *kinds: str) -> list[str]:
        return sorted(key for key, result in self.results.items() if result.kind in kinds)
