"""`tokenbill apikey create|list|revoke`, run as a subprocess against a database of its own."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.api_keys import hash_secret
from tests.test_cli import TOKENBILL, environment
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import to_libpq_url

DATABASE = "tokenbill_apikey_cli_test"


@pytest.fixture(scope="module")
def database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    run("migrate", database_url=url, cwd=tmp_path_factory.mktemp("apikey"))
    yield url
    drop_database(database_url, DATABASE)


def run(*args: str, database_url: str, cwd: Path, expect: int = 0) -> str:
    result = subprocess.run(
        [TOKENBILL, *args], env=environment(database_url), cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == expect, (result.stdout, result.stderr)
    return result.stdout + result.stderr


def one(url: str, sql: str, *params: object) -> tuple[object, ...]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return tuple(row)


def test_apikey_create_prints_the_key_once_and_stores_only_its_hash(
    database: str, tmp_path: Path
) -> None:
    org = run("org", "create", "Key Holder", database_url=database, cwd=tmp_path).split()[2]
    out = run(
        "apikey", "create", "claims platform", "--scope", "tokens.consume",
        "--organization", org, database_url=database, cwd=tmp_path,
    )  # fmt: skip
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("tbk_") and len(secret) == 47
    key_id, scopes, bound, revoked = one(
        database,
        "SELECT id, scopes, organization_id, revoked_at FROM api_keys WHERE key_hash = %s",
        hash_secret(secret),
    )  # fmt: skip
    assert (scopes, bound, revoked) == (["tokens.consume"], int(org), None)
    listing = run("apikey", "list", database_url=database, cwd=tmp_path)
    assert secret not in listing and secret[:12] in listing and "claims platform" in listing
    revoked_out = run("apikey", "revoke", str(key_id), database_url=database, cwd=tmp_path)
    assert f"revoked API key {key_id}" in revoked_out
    assert one(database, "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = %s", key_id) == (
        True,
    )
    assert one(
        database, "SELECT count(*) FROM token_audit_logs WHERE action LIKE 'api_key.%%' "
        "AND target_id = %s", str(key_id),
    ) == (2,)  # fmt: skip


def test_apikey_commands_refuse_bad_input(database: str, tmp_path: Path) -> None:
    missing_scope = run("apikey", "create", "x", database_url=database, cwd=tmp_path, expect=2)
    assert "--scope" in missing_scope
    bad_scope = run(
        "apikey", "create", "x", "--scope", "tokens.purchase", database_url=database,
        cwd=tmp_path, expect=2,
    )  # fmt: skip
    assert "invalid choice" in bad_scope
    unknown_org = run(
        "apikey", "create", "x", "--scope", "tokens.consume", "--organization", "999999",
        database_url=database, cwd=tmp_path, expect=1,
    )  # fmt: skip
    assert "organization 999999 does not exist" in unknown_org
    assert "does not exist" in run(
        "apikey", "revoke", "999999", database_url=database, cwd=tmp_path, expect=1
    )


def test_apikey_create_without_an_organization_is_refused(database: str, tmp_path: Path) -> None:
    before = one(database, "SELECT count(*) FROM api_keys")
    refused = run(
        "apikey", "create", "loose key", "--scope", "tokens.consume",
        database_url=database, cwd=tmp_path, expect=2,
    )  # fmt: skip
    assert "--organization" in refused and "--all-organizations" in refused
    assert one(database, "SELECT count(*) FROM api_keys") == before


def test_an_all_organizations_key_is_made_only_on_request_and_says_so(
    database: str, tmp_path: Path
) -> None:
    out = run(
        "apikey", "create", "platform key", "--scope", "tokens.consume", "--all-organizations",
        database_url=database, cwd=tmp_path,
    )  # fmt: skip
    assert "ALL organizations" in out and "EVERY organization's wallet" in out
    secret = out.strip().splitlines()[-1]
    key_id, bound = one(
        database,
        "SELECT id, organization_id FROM api_keys WHERE key_hash = %s",
        hash_secret(secret),
    )
    assert bound is None
    assert one(
        database, "SELECT after->>'all_organizations' FROM token_audit_logs "
        "WHERE action = 'api_key.create' AND target_id = %s", str(key_id),
    ) == ("true",)  # fmt: skip
