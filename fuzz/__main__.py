"""`make fuzz` (`python -m fuzz`): own PostgreSQL and Temporal dev server, then the whole search;
exits 1 on any violation, printing the request that reproduces each."""

import argparse
import sys
import tempfile
from pathlib import Path

from fuzz.session import run_fuzz
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.devstack.temporal import LocalTemporal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument(
        "--examples",
        type=int,
        default=10,
        help="examples per operation, credential and generation mode (default 10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tokenbill-fuzz-") as folder:
        work = Path(folder)
        postgres = LocalPostgres(work / "postgres", fast_unsafe=True).start()
        temporal = LocalTemporal(log_path=work / "temporal.log").start()
        try:
            tally = run_fuzz(
                postgres.url, temporal.address,
                examples=options.examples, random_seed=options.seed,
                progress=lambda line: print(line, flush=True),
            )  # fmt: skip
        finally:
            temporal.stop()
            postgres.stop()
    print(tally.report(), flush=True)
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
