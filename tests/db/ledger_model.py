"""A wallet as the ledger should keep it, in memory: lots drawn first-to-expire (no expiry last),
then oldest first, a spend from unexpired lots only; the first result of every idempotency key,
which a replay must return."""

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
class WalletModel:
    lots: list[ModelLot] = field(default_factory=list)
    results: dict[str, FirstResult] = field(default_factory=dict)
    expiries: dict[int, FirstResult | None] = field(default_factory=dict)

    @property
    def balance(self) -> Decimal:
        """The cached balance: expired lots count until their expiry is booked."""
        return sum((lot.remaining for lot in self.lots), Decimal(0))

    @property
    def spendable(self) -> Decimal:
        return sum((lot.remaining for lot in self.lots if not lot.expired), Decimal(0))

    def add_lot(self, lot_id: int, expires_at: datetime | None, amount: Decimal) -> None:
        self.lots.append(ModelLot(lot_id, len(self.lots), expires_at, amount))

    def spend(self, amount: Decimal) -> None:
        """A spend: unexpired lots only."""
        assert amount <= self.spendable, "the model never spends more than is spendable"
        self._draw(amount, [lot for lot in self.lots if not lot.expired])

    def draw(self, amount: Decimal) -> None:
        """Any other debit (a reversal): every lot, expired ones first."""
        assert amount <= self.balance, "the model never draws more than the wallet holds"
        self._draw(amount, self.lots)

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
