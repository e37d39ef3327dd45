"""The actions the job Schedules spend whatever the population."""

import pytest

from capacity.jobs import Job, job_costs, recorded_actions, runs_per_month


def test_runs_per_month_of_the_crons_the_worker_uses() -> None:
    assert runs_per_month("*/5 * * * *") == 30 * 24 * 12
    assert runs_per_month("*/15 * * * *") == 2_880
    assert runs_per_month("0 * * * *") == 720
    assert runs_per_month("0 3 * * *") == 30
    assert runs_per_month("0 0 1 * *") == 1
    assert runs_per_month("0 0 * * 0") == pytest.approx(30 / 7)


def test_a_cron_it_does_not_understand_is_refused() -> None:
    with pytest.raises(ValueError):
        runs_per_month("0 0 * 1-6 *")
    with pytest.raises(ValueError):
        runs_per_month("0,30 * * * *")


def test_a_scheduled_run_costs_its_workflow_and_the_schedules_two_actions() -> None:
    # The recorded reconciliation: its start and 9 activities, plus the schedule's 2.
    assert recorded_actions("ReconcileWalletBalancesWorkflow") == 12
    (cost,) = job_costs([Job("reconcile", "ReconcileWalletBalancesWorkflow", "0 3 * * *")])
    assert cost.actions_per_month == 30 * 12


def test_a_job_with_no_recorded_history_is_an_error() -> None:
    with pytest.raises(LookupError):
        recorded_actions("NoSuchWorkflow")
