"""The short, seeded `make fuzz`: two examples per operation, credential and generation mode,
against a database of its own on the suite's PostgreSQL and the suite's Temporal dev server."""

import asyncio

from fuzz.session import run_fuzz
from tokenbill.devstack.temporal import LocalTemporal

EXAMPLES = 2
SEED = 0


async def test_fuzzed_requests_get_documented_answers_and_refusals_change_nothing(
    database_url: str, temporal_dev_server: LocalTemporal
) -> None:
    tally = await asyncio.to_thread(
        run_fuzz, database_url, temporal_dev_server.address, examples=EXAMPLES, random_seed=SEED
    )
    assert not tally.violations, tally.report()
    # The credentials work: some calls get through, and the search reached every operation.
    assert tally.statuses["2xx"] > 0 and tally.statuses["4xx"] > 0, tally.summary()
    assert tally.operations >= 50, tally.summary()
