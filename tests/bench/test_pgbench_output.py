"""Reading pgbench's report: the rate without connection time and the failed transactions."""

import pytest

from bench.pgbench import Load, Rate, parse_output

REPORT = b"""pgbench (18.6)
transaction type: /tmp/x.pgbench
query mode: prepared
number of clients: 32
number of threads: 2
number of failed transactions: 3 (0.021%)
latency average = 22.401 ms
initial connection time = 41.220 ms
tps = 1428.512345 (without initial connection time)
"""


def test_the_rate_and_the_failures_are_read_from_the_report() -> None:
    assert parse_output(REPORT) == Rate(1428.512345, 3)


def test_a_report_without_a_rate_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no rate"):
        parse_output(b"pgbench: error: connection refused\n")


def test_pgbench_gets_whole_seconds_and_no_more_threads_than_cpus() -> None:
    assert Load.of(32, 0.3, 2) == Load(32, 2, 1)
    assert Load.of(1, 5.0, 8) == Load(1, 1, 5)
