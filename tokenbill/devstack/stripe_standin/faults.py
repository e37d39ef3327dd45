"""The stand-in's faults, as Stripe's own can look from a client: a 5xx before anything happened,
or an answer that never arrives after the request was carried out (the client times out)."""

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# The kinds, named as the sandbox names its own (chaos counts both alike).
PROCESSING_ERROR = "gateway_processing_error"
LOST_RESPONSE = "gateway_lost_response"


@dataclass(frozen=True)
class StandinFaults:
    # Share of write requests answered 500 api_error before anything is done (nothing stored).
    error_rate: float = 0.0
    # Share of write requests carried out and stored whose answer hangs for `hang_seconds`.
    lost_answer_rate: float = 0.0
    # How long a lost answer (and the timeout-once test card's first answer) hangs.
    hang_seconds: float = 30.0
    seed: int | None = None
    # Where each injected fault is written as a JSON line (chaos reads them), if anywhere.
    log_path: Path | None = None


class FaultDice:
    def __init__(self, faults: StandinFaults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)

    def fails_before(self) -> bool:
        return self._random.random() < self.faults.error_rate

    def loses_answer(self) -> bool:
        return self._random.random() < self.faults.lost_answer_rate

    def record(self, kind: str, operation: str, key: str | None) -> None:
        if self.faults.log_path is None:
            return
        line = {"standin_fault": kind, "time": datetime.now(UTC).isoformat(),
                "operation": operation, "idempotency_key": key}  # fmt: skip
        with self.faults.log_path.open("a") as log:
            log.write(json.dumps(line) + "\n")
