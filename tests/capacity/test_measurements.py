"""The model is fed from the measurements kept under bench/results/, and runs from one command."""

import json
from pathlib import Path
from typing import Any

import pytest

from capacity.__main__ import main
from capacity.measurements import (
    PURCHASE,
    RENEWAL,
    RESULTS,
    latest,
    load_unit_costs,
    unit_costs_from,
)


def _latest(pattern: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(latest(pattern).read_text())
    return loaded


def test_the_kept_measurements_give_every_unit_cost() -> None:
    costs = load_unit_costs()
    assert costs.spend.api > 0 and costs.spend.postgres > 0
    assert costs.purchase.worker > 0 and costs.purchase.temporal_actions >= 4
    assert costs.renewal.temporal_actions > costs.purchase.temporal_actions
    assert costs.hot_wallet_batched_spends_per_second > costs.hot_wallet_single_spends_per_second
    assert [name.split("-")[0] for name in costs.sources] == ["bench", "unit", "actions"]


def test_a_renewal_costs_a_purchase_times_the_purchase_rate_over_the_wave_rate() -> None:
    bench, units, actions = (
        _latest("bench-*.json"), _latest("unit-costs-*.json"), _latest("actions-*.json")
    )  # fmt: skip
    bench["sections"]["purchases"]["facts"]["purchase rate"] = 12.0
    for figure in bench["sections"]["subscriptions"]["figures"]:
        figure["value"] = 6.0
    costs = unit_costs_from(bench, units, actions)
    assert costs.renewal.worker == pytest.approx(2 * costs.purchase.worker)
    assert costs.renewal.api == 0
    flows = actions["flows"]
    assert costs.renewal.temporal_actions == flows[RENEWAL]["actions"]
    assert costs.purchase.temporal_actions == flows[PURCHASE]["actions"]


def test_missing_measurements_say_which_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bench-"):
        load_unit_costs(tmp_path)


def test_the_simulation_runs_with_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "population default" in out and "saturates first" in out


def test_a_population_file_and_options_override_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "insurer.yaml"
    file.write_text("organizations: 10\nzipf_exponent: 2.0\nbox:\n  vcpus: 32\n")
    options = ["--spends-per-org-per-day", "1e8", "--box-core-speed", "2", "--json"]
    assert main(["--file", str(file), *options]) == 0
    (made,) = json.loads(capsys.readouterr().out)
    assert made["population"]["organizations"] == 10
    assert made["population"]["spends_per_org_per_day"] == 1e8
    assert made["box"]["vcpus"] == 32
    assert made["box"]["core_speed"] == 2
    assert made["warnings"]  # one organisation spends far beyond one wallet row


def test_every_named_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--all", "--results", str(RESULTS)]) == 0
    assert capsys.readouterr().out.count("saturates first") == 4
