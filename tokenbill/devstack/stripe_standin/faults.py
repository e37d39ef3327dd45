"""The stand-in's faults, as Stripe's own can look from a client: a 5xx before anything happened,
or an answer that never arrives after the request was carried out (the client times out)."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class StandinFaults:
    # Share of write requests answered 500 api_error before anything is done (nothing stored).
    error_rate: float = 0.0
    # Share of write requests carried out and stored whose answer hangs for `hang_seconds`.
    lost_answer_rate: float = 0.0
    # How long a lost answer (and the timeout-once test card's first answer) hangs.
    hang_seconds: float = 30.0
    seed: int | None = None


class FaultDice:
    def __init__(self, faults: StandinFaults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)

    def fails_before(self) -> bool:
        return self._random.random() < self.faults.error_rate

    def loses_answer(self) -> bool:
        return self._random.random() < self.faults.lost_answer_rate
