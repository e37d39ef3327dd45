"""What a fuzz run counts and the violations it found, each with the request that reproduces it."""

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Violation:
    operation: str
    identity: str
    status: int | None
    problem: str
    reproduce: str


@dataclass
class Tally:
    operations: int = 0
    calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    repeats: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count_call(self, status: int | None) -> None:
        self.calls += 1
        self.statuses["error" if status is None else f"{status // 100}xx"] += 1

    def add(self, violation: Violation) -> None:
        """Keep the first request of each kind of violation per operation; count the others."""
        key = (violation.operation, violation.problem.splitlines()[0])
        if self.repeats[key] == 0:
            self.violations.append(violation)
        self.repeats[key] += 1

    @property
    def failures(self) -> int:
        return sum(self.repeats.values())

    def summary(self) -> str:
        classes = ", ".join(f"{name} {self.statuses[name]}" for name in sorted(self.statuses))
        return (
            f"operations {self.operations}, calls {self.calls} ({classes}), "
            f"failures {self.failures} ({len(self.violations)} distinct)"
        )

    def report(self) -> str:
        lines = [self.summary()]
        for number, violation in enumerate(self.violations, 1):
            key = (violation.operation, violation.problem.splitlines()[0])
            lines += [
                "",
                f"[{number}] {violation.operation} as {violation.identity} -> "
                f"{violation.status} (seen {self.repeats[key]} times)",
                f"    {violation.problem}",
                f"    reproduce: {violation.reproduce}",
            ]
        return "\n".join(lines)
