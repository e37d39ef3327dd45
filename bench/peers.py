"""Peers: the database alone, driven by pgbench on the bench's own PostgreSQL, for pgledger's single
transfer (a public PostgreSQL ledger, vendored under bench/peers/pgledger with its MIT licence)
and for tokenbill's `ledger_spend`, each on one hot account and spread over many accounts, at the
same clients, threads and duration. Later sections are held to these rates (bench/goals.py)."""

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import LiteralString

from psycopg import AsyncConnection, sql

from bench.figures import Figure, SectionResult
from bench.fixtures import prepare_spending
from bench.options import Options
from bench.pgbench import Load, Rate, run_script
from bench.stack import BenchStack

SECTION = "peers"
PGLEDGER = Path(__file__).parent / "peers" / "pgledger"
PGLEDGER_FILES = ("ulid-to-uuid.sql", "uuid-to-ulid.sql", "pgledger.sql")
PGLEDGER_DATABASE = "pgledger"
FUNDS = 10**9
UNIT = "tx/s"
TURNS = 2


def pgledger_name(scenario: str) -> str:
    return f"{scenario}: pgledger single transfer"


def ledger_spend_name(scenario: str) -> str:
    return f"{scenario}: ledger_spend"


def scenarios(wallets: int) -> tuple[str, str]:
    """The hot and the spread scenario's names, as the spending section names them."""
    return "hot wallet", f"{wallets} wallets"


def pgledger_transfer_script(accounts: int) -> str:
    """Account `a<n>` pays 1 to its own `b<n>`; n is 0 for the hot account, else 1..accounts."""
    pick = "0" if accounts == 0 else f"random(1, {accounts})"
    return (
        f"\\set n {pick}\n"
        "SELECT id FROM pgledger_create_transfer('a' || :n, 'b' || :n, 1::numeric);\n"
    )


def ledger_spend_script(first_organization: int, organizations: int) -> str:
    """One spend of 1 token per transaction, as the HTTP spend route issues it, on a fresh key."""
    last = first_organization + organizations - 1
    return (
        f"\\set org random({first_organization}, {last})\n"
        "\\set k random(1, 9000000000000000000)\n"
        "SELECT status FROM ledger_spend('consume:' || CAST(:org AS text) || ':' || 'pgb' || "
        "CAST(:k AS text), CAST(:org AS integer), 1::numeric, 'bench'::text, NULL::text, "
        "100::numeric, 50::numeric, true, "
        "'service'::text, 'pgbench'::text, NULL::text, NULL::text);\n"
    )


async def install_pgledger(admin_url: str, accounts: int) -> str:
    """pgledger in a database of its own on the bench's server: a funding account, the hot pair
    a0/b0 and the pairs a1/b1 .. a<n>/b<n>, every `a` funded; its URL."""
    async with await AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PGLEDGER_DATABASE)))
    url = admin_url.rsplit("/", 1)[0] + f"/{PGLEDGER_DATABASE}"
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        for name in PGLEDGER_FILES:
            await conn.execute((PGLEDGER / name).read_text())
        await conn.execute(
            "INSERT INTO pgledger_accounts (id, name, currency, allow_negative_balance, "
            "allow_positive_balance, created_at, updated_at) "
            "SELECT id, id, 'TOK', id = 'fund', true, now(), now() FROM "
            "(SELECT 'fund' AS id UNION ALL SELECT p || g FROM generate_series(0, %s) AS g, "
            "unnest(ARRAY['a', 'b']) AS p) AS ids",
            (accounts,),
        )
        await conn.execute(
            "SELECT pgledger_create_transfers(array_agg(('fund', 'a' || g, %s)::transfer_request)) "
            "FROM generate_series(0, %s) AS g",
            (FUNDS, accounts),
        )
    return url


@dataclass(frozen=True)
class Peers:
    pgledger_url: str
    tokenbill_url: str
    hot_organization: int
    first_organization: int
    organizations: int


async def prepare(stack: BenchStack, wallets: int) -> Peers:
    assert stack.postgres is not None
    data = await prepare_spending(stack.settings, wallets)
    many = data.many
    if many != list(range(many[0], many[0] + len(many))):
        raise RuntimeError("the spread organizations' ids are not consecutive")
    pgledger_url = await install_pgledger(stack.postgres.admin_url, wallets)
    return Peers(pgledger_url, stack.database_url, data.hot[0], many[0], len(many))


async def measure_pair(
    first: tuple[str, str], second: tuple[str, str], load: Load, warm_up: bool
) -> tuple[Rate, Rate]:
    """Two (database URL, script) modes, each for `load.seconds` in all, in TURNS turns taken in
    order (first, second, first, ...), so a shared machine's drifting load weighs on both alike;
    each turn lasts ceil(seconds / TURNS), each rate is the mean of its turns."""
    scripts: list[Path] = []
    try:
        for _, script in (first, second):
            with tempfile.NamedTemporaryFile("w", suffix=".pgbench", delete=False) as file:
                file.write(script)
            scripts.append(Path(file.name))
        modes = [(first[0], scripts[0]), (second[0], scripts[1])]
        if warm_up:
            for url, path in modes:
                await run_script(url, path, Load(load.clients, load.threads, 1))
        turns = min(TURNS, load.seconds)
        turn = Load(load.clients, load.threads, math.ceil(load.seconds / turns))
        rates: list[list[Rate]] = [[], []]
        for _ in range(turns):
            for index, (url, path) in enumerate(modes):
                rates[index].append(await run_script(url, path, turn))
        return _mean(rates[0]), _mean(rates[1])
    finally:
        for path in scripts:
            path.unlink(missing_ok=True)


def _mean(rates: list[Rate]) -> Rate:
    return Rate(
        sum(r.transactions_per_second for r in rates) / len(rates), sum(r.failed for r in rates)
    )


async def run(stack: BenchStack, options: Options) -> SectionResult:
    load = Load.of(options.concurrency, options.seconds, os.cpu_count() or 1)
    print(f"peers: pgbench, {load.clients} clients, {load.threads} threads, {load.seconds}s per "
          f"mode in {TURNS} interleaved turns; preparing {options.wallets} accounts of each "
          "ledger", flush=True)  # fmt: skip
    peers = await prepare(stack, options.wallets)
    warm_up = options.seconds >= 2
    hot, spread = scenarios(options.wallets)
    cases = [
        (hot, pgledger_transfer_script(0), ledger_spend_script(peers.hot_organization, 1)),
        (spread, pgledger_transfer_script(options.wallets),
         ledger_spend_script(peers.first_organization, peers.organizations)),
    ]  # fmt: skip
    figures: list[Figure] = []
    facts: dict[str, float] = {}
    for scenario, transfer, spend in cases:
        peer, ours = await measure_pair(
            (peers.pgledger_url, transfer), (peers.tokenbill_url, spend), load, warm_up
        )
        for name, rate in ((pgledger_name(scenario), peer), (ledger_spend_name(scenario), ours)):
            facts[f"{name} rate"] = rate.transactions_per_second
            facts[f"{name} failed transactions"] = rate.failed
            print(f"  {name:<45} {rate.transactions_per_second:>8.0f} {UNIT}", flush=True)
        figures.append(
            Figure(SECTION, ledger_spend_name(scenario), ours.transactions_per_second, UNIT,
                   pgledger_name(scenario), peer.transactions_per_second)
        )  # fmt: skip
    facts["ledger_spend spends applied"] = await count(
        peers.tokenbill_url,
        "SELECT count(*) FROM ledger_transactions WHERE idempotency_key LIKE 'consume:%:pgb%'",
    )
    facts["pgledger transfers booked"] = await count(
        peers.pgledger_url,
        "SELECT count(*) FROM pgledger_transfers WHERE from_account_id <> 'fund'",
    )
    return SectionResult(figures, facts)


async def count(url: str, query: LiteralString) -> int:
    async with await AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return int(row[0])
