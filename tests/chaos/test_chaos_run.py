"""The short chaos run: traffic under every kind of fault, then every money rule proven.

It runs the same command as `make chaos`, shorter, with two API and two worker processes (killed
independently), as a child process with servers of its own."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.faults import EVERY_KIND

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SHORT_RUN = [
    "--duration", "45", "--settle-timeout", "240", "--worker-kill-every", "7", "14",
    "--apis", "2", "--workers", "2",
]  # fmt: skip


def test_short_chaos_run_injects_every_fault_and_breaks_no_money_rule(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, "-m", "chaos", *SHORT_RUN, "--work-dir", str(tmp_path / "run"),
         "--summary", str(summary_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert {kind for kind in EVERY_KIND if summary["faults"].get(kind, 0) > 0} == set(EVERY_KIND)
    assert summary["checks"] and all(check["passed"] for check in summary["checks"])
