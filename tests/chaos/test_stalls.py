"""The stall after a worker kill, timed from the subscription periods' rows."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chaos.stalls import MARGIN, Period, charge_faults, measure, stall_verdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def period(subscription: int, due: float, started: float, completed: float | None) -> Period:
    finished = None if completed is None else at(completed)
    return Period(subscription, at(due), at(started), finished, f"subscription-{subscription}")


PERIODS = [
    period(1, 0, 0.5, 1.0),
    period(1, 3, 14.0, 15.0),  # cached on the killed worker: waited out the sticky queue
    period(2, 4, 4.2, 30.0),  # being paid at the kill: its activity was lost with the worker
    period(2, 7, 31.0, 31.5),
    period(3, 9, 9.3, 9.6),
    period(3, 40, 40.1, 40.4),  # due after the traffic: the run cancelled it
]


def test_each_kill_times_the_first_period_each_subscription_had_not_started() -> None:
    stalls = measure(PERIODS, [at(5)], traffic_end=at(30), quiet=timedelta(seconds=15))
    waits = {s.subscription_id: s.seconds for s in stalls.waiting}
    assert waits == {1: 9.0, 2: 24.0, 3: 0.3}
    assert [(s.subscription_id, s.seconds) for s in stalls.paying] == [(2, 25.0)]
    assert stalls.undisturbed == pytest.approx([0.5, 0.2])


def test_a_wait_past_the_sticky_timeout_and_margin_fails_the_check() -> None:
    stalls = measure(PERIODS, [at(5)], traffic_end=at(30), quiet=timedelta(seconds=15))
    # Limits of 15 s (fails subscription 2's wait) and 25 s (holds it), whatever the margin.
    verdict = stall_verdict(stalls, timedelta(seconds=15) - MARGIN)
    assert [v.split(" waited")[0] for v in verdict.violations] == ["subscription 2"]
    assert stall_verdict(stalls, timedelta(seconds=25) - MARGIN).passed


def test_a_wait_that_saw_an_activity_lost_is_held_to_that_activity_s_timeout() -> None:
    stalls = measure(PERIODS, [at(5)], traffic_end=at(30), quiet=timedelta(seconds=15))
    lost = [
        replace(s, lost_activity=timedelta(seconds=30)) if s.subscription_id == 2 else s
        for s in stalls.waiting
    ]
    assert stall_verdict(replace(stalls, waiting=lost), timedelta(seconds=15) - MARGIN).passed


def test_a_wait_whose_charge_the_gateway_failed_on_purpose_is_counted_apart() -> None:
    stalls = measure(PERIODS, [at(5)], traffic_end=at(30), quiet=timedelta(seconds=15))
    key = "subscription:2:2026-01-01T00:00:07+00:00:charge"
    faults = [
        (at(6), f"charge {key}"),  # subscription 2's period due at 7 s, between kill and row
        (at(6), "charge subscription:1:2026-01-01T00:00:03+00:00:charge"),  # 1's, before its row
        (at(40), f"charge {key}:2"),  # after the row: not this wait's
    ]
    marked = [replace(s, charge_faults=charge_faults(s, faults)) for s in stalls.waiting]

    assert {s.subscription_id: s.charge_faults for s in marked} == {1: 1, 2: 1, 3: 0}
    verdict = stall_verdict(replace(stalls, waiting=marked), timedelta(seconds=15) - MARGIN)
    assert verdict.passed, "a charge failed on purpose is not the sticky queue's stall"
    assert "2 with gateway faults injected on its charge" in verdict.looked_at
    assert not stall_verdict(stalls, timedelta(seconds=15) - MARGIN).passed


def test_only_faults_on_the_periods_own_charge_keys_count() -> None:
    stalls = measure(PERIODS, [at(5)], traffic_end=at(30), quiet=timedelta(seconds=15))
    wait = next(s for s in stalls.waiting if s.subscription_id == 2)
    stem = "subscription:2:2026-01-01T00:00:07+00:00"
    assert charge_faults(wait, [(at(10), f"charge {stem}:charge:3")]) == 1  # a dunning attempt
    assert charge_faults(wait, [(at(10), f"refund {stem}:charge")]) == 0
    assert charge_faults(wait, [(at(10), f"charge {stem}:credit")]) == 0
    assert charge_faults(wait, [(at(10), f"charge {stem}:charge-other")]) == 0
    assert charge_faults(wait, [(at(4), f"charge {stem}:charge")]) == 0  # before the kill
