"""A check's verdict: its name, what it looked at, and every violation it found."""

from dataclasses import dataclass, field


@dataclass
class Verdict:
    name: str
    looked_at: str = ""
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations
