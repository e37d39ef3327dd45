"""`python -m capacity` (`make capacity`): what a population of organisations needs (API
processes, workers, Temporal actions per second and per month, PostgreSQL primaries), which
component saturates first, and whether the hottest organisation outgrows one wallet row, from
the latest measurements under bench/results/ (see docs/scaling.md)."""

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from capacity.measurements import RESULTS, load_unit_costs
from capacity.model import Box, Plan, Population, TemporalPlan, plan
from capacity.populations import EXAMPLES
from capacity.report import as_dict, render


def _options(parser: argparse.ArgumentParser, cls: type[Any], prefix: str = "") -> None:
    for item in dataclasses.fields(cls):
        if item.name == "name":
            continue
        flag = f"--{prefix}{item.name}".replace("_", "-")
        kind = int if item.type in (int, "int") else float
        parser.add_argument(flag, dest=f"{prefix}{item.name}", type=kind, default=None,
                            help=f"default {item.default:,}")  # fmt: skip


def _overridden(base: Any, args: argparse.Namespace, prefix: str = "") -> Any:
    changes = {
        item.name: getattr(args, f"{prefix}{item.name}")
        for item in dataclasses.fields(base)
        if item.name != "name" and getattr(args, f"{prefix}{item.name}", None) is not None
    }
    return dataclasses.replace(base, **changes)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m capacity", description=__doc__)
    add = parser.add_argument
    add(
        "--population",
        choices=sorted(EXAMPLES),
        default="default",
        help="a named example population (default: default)",
    )
    add("--all", action="store_true", help="every named example in turn")
    add(
        "--file", type=Path, help="YAML or JSON: population fields, and `box:` / `temporal:` fields"
    )
    add(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder of the measurements (bench-*, unit-costs-*, actions-*.json)",
    )
    add("--json", action="store_true", help="print JSON instead of a table")  # fmt: skip
    _options(parser, Population)
    _options(parser, Box, "box_")
    _options(parser, TemporalPlan, "temporal_")
    return parser.parse_args(argv)


def _from_file(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: expected a mapping of population fields")
    box, temporal = loaded.pop("box", {}) or {}, loaded.pop("temporal", {}) or {}
    return loaded, box, temporal


def plans(args: argparse.Namespace) -> list[Plan]:
    costs = load_unit_costs(args.results)
    box, temporal = Box(), TemporalPlan()
    populations = list(EXAMPLES.values()) if args.all else [EXAMPLES[args.population]]
    if args.file is not None:
        fields, box_fields, temporal_fields = _from_file(args.file)
        populations = [dataclasses.replace(populations[0], **{"name": args.file.stem, **fields})]
        box = dataclasses.replace(box, **box_fields)
        temporal = dataclasses.replace(temporal, **temporal_fields)
    box = _overridden(box, args, "box_")
    temporal = _overridden(temporal, args, "temporal_")
    return [plan(_overridden(p, args), costs, box, temporal) for p in populations]


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        made = plans(args)
    except (FileNotFoundError, TypeError, KeyError) as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([as_dict(p) for p in made], indent=2))
    else:
        print("\n\n".join(render(p) for p in made))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
