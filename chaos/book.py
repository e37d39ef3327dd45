"""What the clients were told: every request that got a 2xx, and every definitive refusal."""

from dataclasses import dataclass, field
from decimal import Decimal

from chaos.holds_book import HoldAnswers


@dataclass(frozen=True)
class OrgPlan:
    """One organization of the run and the part it plays."""

    organization_id: int
    token: str
    role: str  # "topup": auto top-up keeps it going; "buyer": buys often; "drained": spends out
    topup_threshold: Decimal | None


@dataclass
class Book:
    purchases: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> reference
    refused_purchases: dict[str, str] = field(default_factory=dict)  # key -> error code
    spends: dict[tuple[int, str], Decimal] = field(default_factory=dict)  # accepted
    refused_spends: dict[tuple[int, str], str] = field(default_factory=dict)
    batches: int = 0
    subscriptions: dict[int, int] = field(default_factory=dict)  # id -> organization
    topup_policies: dict[int, Decimal] = field(default_factory=dict)  # organization -> threshold
    unanswered: list[str] = field(default_factory=list)
    holds: HoldAnswers = field(default_factory=HoldAnswers)

    def spend_answered(
        self, organization_id: int, key: str, amount: Decimal, refusal: str | None
    ) -> None:
        if refusal is None:
            self.spends[(organization_id, key)] = amount
            self.refused_spends.pop((organization_id, key), None)
        else:
            self.refused_spends[(organization_id, key)] = refusal
