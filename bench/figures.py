"""What every section hands the report: figures beside a baseline taken in the same run."""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

# A closed-loop caller: works until the deadline, returns how much it did.
Caller = Callable[[int, float], Awaitable[int]]


@dataclass(frozen=True)
class Goal:
    """`ratio >= bound` (at_least) or `ratio <= bound`."""

    bound: float
    at_least: bool = True

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.at_least else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:g}x"


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    goal: Goal | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else math.nan

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.ratio)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


async def closed_loop(
    concurrency: int,
    seconds: float,
    caller: Caller,
    warm_up: float = 1.0,
    measuring: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """`concurrency` callers until the deadline (after a warm-up, then `measuring()` to drop what
    the warm-up recorded); work done and time taken, up to the last caller's return."""
    if warm_up > 0:
        warm = time.monotonic() + warm_up
        await asyncio.gather(*(caller(n, warm) for n in range(concurrency)))
    if measuring is not None:
        measuring()
    start = time.monotonic()
    counts = await asyncio.gather(*(caller(n, start + seconds) for n in range(concurrency)))
    return sum(counts), time.monotonic() - start


@dataclass(frozen=True)
class Limit:
    """A figure held to an absolute bound rather than to a baseline of the run."""

    section: str
    name: str
    value: float
    unit: str
    bound: float
    at_most: bool = True

    @property
    def met(self) -> bool:
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    @property
    def goal(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g} {self.unit}"


@dataclass
class SectionResult:
    """A section's figures, the facts that say whether what it measured went right, and the
    figures held to absolute bounds."""

    figures: list[Figure]
    facts: dict[str, float]
    limits: list[Limit] = field(default_factory=list)


@dataclass
class Latencies:
    """End-to-end times of one mode, and what each ended as."""

    seconds: list[float]
    outcomes: dict[str, int]

    @staticmethod
    def empty() -> "Latencies":
        return Latencies([], {})

    def record(self, seconds: float, outcome: str) -> None:
        self.seconds.append(seconds)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def clear(self) -> None:
        self.seconds.clear()
        self.outcomes.clear()

    def ms(self, fraction: float) -> float:
        return percentile(self.seconds, fraction) * 1000
