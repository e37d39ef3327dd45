"""The API process's garbage collector, set for a long-lived server.

Everything built at start-up (the routes, their pydantic models and validators, the OpenAPI
schema, SQLAlchemy's and the Temporal client's tables) lives as long as the process. Without
care every full collection walks it all again: under load the objects of requests in flight
survive the young generations, the oldest generation fills and is collected every few hundred
requests, and the profile of the spend route showed 15% of the process in the collector.
`gc.freeze()` at the end of start-up moves those objects out of the collector's sight (they
stay alive as they would anyway), and a larger young generation collects less often, each time
over objects that are mostly dead already. Reference cycles are still found and freed.

Once per process: a process that starts several apps (the tests) freezes only the first's.
"""

import gc

YOUNG_THRESHOLD = 7_000  # CPython's default is 700 allocations between young collections
_settled = False


def settle_startup_heap() -> None:
    """Collect once, freeze what survived start-up, and widen the young generation."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
