"""What the clients were told about holds: each hold made, and how its capture or release was
answered."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class HoldAnswers:
    holds: dict[int, tuple[int, Decimal]] = field(default_factory=dict)  # id -> (org, amount)
    refused: int = 0  # new holds refused (insufficient_balance, organization_inactive)
    captured: dict[int, Decimal] = field(default_factory=dict)  # id -> amount answered captured
    released: set[int] = field(default_factory=set)  # answered released (or already expired)
    capture_refused: dict[int, str] = field(default_factory=dict)  # id -> error code
    release_refused: dict[int, str] = field(default_factory=dict)
