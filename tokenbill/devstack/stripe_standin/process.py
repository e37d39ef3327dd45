"""The stand-in as a child process (chaos, `tokenbill dev`): started, waited for, stopped."""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx

from tokenbill.devstack.processes import start_process, stop_process
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.server import HOST

# A fixed, obviously fake key: the stand-in accepts only it; never a real Stripe key.
STANDIN_API_KEY = "sk_test_tokenbill_local_standin"
API_KEY_VARIABLE = "STRIPE_STANDIN_API_KEY"


@dataclass
class StandinProcess:
    port: int
    log_path: Path
    faults: StandinFaults = field(default_factory=StandinFaults)
    api_key: str = STANDIN_API_KEY
    process: Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        args = [
            sys.executable, "-m", "tokenbill.devstack.stripe_standin", "--port", str(self.port),
            "--error-rate", str(self.faults.error_rate),
            "--lost-answer-rate", str(self.faults.lost_answer_rate),
            "--hang-seconds", str(self.faults.hang_seconds),
        ]  # fmt: skip
        if self.faults.seed is not None:
            args += ["--seed", str(self.faults.seed)]
        if self.faults.log_path is not None:
            args += ["--fault-log", str(self.faults.log_path)]
        env = {**os.environ, API_KEY_VARIABLE: self.api_key}
        self.process = start_process(args, env=env, log_path=self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Stripe stand-in exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/_standin/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the Stripe stand-in did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
