"""Recording workflow histories for the replay test (tests/workflows/test_workflow_replay.py).

A test calls `record_histories` after its workflow closed; with TOKENBILL_RECORD_HISTORIES=1 the
history is written as JSON under tests/workflows/histories/, otherwise nothing happens.
"""

import os
from pathlib import Path

from temporalio.client import Client

HISTORIES = Path(__file__).parent / "workflows" / "histories"
RECORD_VARIABLE = "TOKENBILL_RECORD_HISTORIES"


async def record_histories(client: Client, workflow_id: str, name: str, runs: int = 1) -> None:
    """Write the last `runs` runs of a workflow's continue-as-new chain as `<name>-<n>.json`
    (`<name>-0.json` is the last run)."""
    if os.environ.get(RECORD_VARIABLE) != "1":
        return
    run_id: str | None = None
    for index in range(runs):
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        (HISTORIES / f"{name}-{index}.json").write_text(history.to_json())
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return
