"""CPU time spent by each server of the stack, read from /proc: where a workflow's cost lives,
per server, between two readings. A server is the process group its child leads, with every
descendant (PostgreSQL's backends leave the group: they call setsid)."""

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid: (parent, group, CPU ticks) of every live process."""
    found: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended meanwhile
        # After the command: state, ppid, pgrp, ..., utime (11th after it) and stime.
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))
    return found


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of the live processes of each named server."""
    names = {group: name for name, group in groups.items()}
    processes = _processes()
    totals = dict.fromkeys(groups, 0.0)
    for pid, (_, _, ticks) in processes.items():
        ancestor: int | None = pid
        while ancestor is not None and ancestor in processes:
            parent, group, _ = processes[ancestor]
            if group in names:
                totals[names[group]] += ticks / TICKS
                break
            ancestor = parent if parent != ancestor else None
    return totals


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
