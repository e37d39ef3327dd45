"""Faults the sandbox processor can inject, as real processors show them: a processing error
before anything is recorded, and an operation recorded whose answer is lost on the way back.

Rates come from settings (default 0, no faults); a seed makes a run's sequence repeatable. Each
injected fault is logged (logger `tokenbill.sandbox.faults`) so a chaos run can count them.
"""

import logging
import random
from dataclasses import dataclass

from activities.payments.gateway import GatewayTimeout, GatewayUnavailable

logger = logging.getLogger("tokenbill.sandbox.faults")
PROCESSING_ERROR = "gateway_processing_error"
# A fault is transient, as a processor's hiccup is: one request key meets at most this many faults
# from one gateway, so a retried charge completes however the seeded sequence falls.
MAX_FAULTS_PER_KEY = 3
LOST_RESPONSE = "gateway_lost_response"


@dataclass(frozen=True)
class SandboxFaults:
    """Probabilities (0 to 1) per request of each fault, and the seed of their sequence."""

    fault_rate: float = 0.0
    lost_response_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for rate in (self.fault_rate, self.lost_response_rate):
            if not 0.0 <= rate < 1.0:
                raise ValueError("a fault rate is at least 0 and below 1")


class FaultInjector:
    """Decides, from one seeded sequence, which requests fail and which answers are lost."""

    def __init__(self, faults: SandboxFaults) -> None:
        self._faults = faults
        self._random = random.Random(faults.seed)
        self._faults_of_key: dict[str, int] = {}

    def before_processing(self, operation: str, idempotency_key: str) -> None:
        """Raise GatewayUnavailable for a request that fails before the processor records it."""
        if self._draw(self._faults.fault_rate, idempotency_key):
            self._log(PROCESSING_ERROR, operation, idempotency_key)
            raise GatewayUnavailable(f"processing error on {operation} {idempotency_key!r}")

    def after_recording(self, operation: str, idempotency_key: str) -> None:
        """Raise GatewayTimeout for an operation recorded whose answer never arrives."""
        if self._draw(self._faults.lost_response_rate, idempotency_key):
            self._log(LOST_RESPONSE, operation, idempotency_key)
            raise GatewayTimeout(f"no answer for {operation} {idempotency_key!r}")

    def _draw(self, rate: float, idempotency_key: str) -> bool:
        if rate <= 0 or self._faults_of_key.get(idempotency_key, 0) >= MAX_FAULTS_PER_KEY:
            return False
        if self._random.random() >= rate:
            return False
        self._faults_of_key[idempotency_key] = self._faults_of_key.get(idempotency_key, 0) + 1
        return True

    @staticmethod
    def _log(kind: str, operation: str, idempotency_key: str) -> None:
        logger.warning(
            "sandbox fault injected: %s on %s %s", kind, operation, idempotency_key,
            extra={"sandbox_fault": kind, "operation": operation,
                   "idempotency_key": idempotency_key},
        )  # fmt: skip
