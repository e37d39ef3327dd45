"""What a run prints: the faults injected (counts by kind, each with its moment), the traffic the
clients saw, how long subscriptions stalled after worker kills, and each check passed or failed
with its violations."""

from chaos.book import Book
from chaos.client import ClientStats
from chaos.faults import EVERY_KIND, FaultLog
from chaos.stalls import StallFigures
from chaos.verdict import Verdict

SHOWN_VIOLATIONS = 20
SHOWN_MOMENTS = 12


def print_faults(log: FaultLog) -> None:
    counts = log.counts()
    print("\nFaults injected:")
    for kind in EVERY_KIND:
        moments = [f.at.strftime("%H:%M:%S.%f")[:-3] for f in log.faults if f.kind == kind]
        shown = ", ".join(moments[:SHOWN_MOMENTS])
        more = f" (+{len(moments) - SHOWN_MOMENTS} more)" if len(moments) > SHOWN_MOMENTS else ""
        print(f"  {kind:26} {counts[kind]:5}  at {shown or '-'}{more}")


def print_traffic(book: Book, stats: ClientStats) -> None:
    print("\nTraffic (as the clients saw it):")
    print(f"  purchases accepted {len(book.purchases)}, refused {len(book.refused_purchases)}")
    print(
        f"  spends accepted {len(book.spends)}, refused {len(book.refused_spends)} "
        f"(batches {book.batches})"
    )
    print(
        f"  subscriptions {len(book.subscriptions)}, auto top-up policies "
        f"{len(book.topup_policies)}"
    )
    print(
        f"  requests sent {stats.requests}; resent with the same key: "
        f"{sum(stats.retries.values())} {dict(stats.retries)}"
    )
    if book.unanswered:
        print(f"  requests the clients gave up on: {len(book.unanswered)}")


def print_stalls(stalls: StallFigures) -> None:
    print("\nSubscription stalls after worker kills (seconds):")
    for name, seconds in stalls.items():
        print(f"  {name:55} {'-' if seconds is None else f'{seconds:.1f}'}")


def print_verdicts(verdicts: list[Verdict]) -> None:
    print("\nChecks:")
    for v in verdicts:
        print(f"  {'PASS' if v.passed else 'FAIL'}  {v.name}  [{v.looked_at}]")
        for violation in v.violations[:SHOWN_VIOLATIONS]:
            print(f"        violation: {violation}")
        if len(v.violations) > SHOWN_VIOLATIONS:
            print(f"        ... and {len(v.violations) - SHOWN_VIOLATIONS} more")
