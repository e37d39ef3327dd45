"""The `tokenbill` console script, run as a subprocess against a database of its own."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.auth.jwt_tokens import user_id_from_token
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")
DATABASE = "tokenbill_cli_test"
JWT_SECRET = "cli-test-secret-that-is-long-enough-for-hs256"


@pytest.fixture(scope="module")
def cli_database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def environment(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(JWT_SECRET=JWT_SECRET, LOG_LEVEL="WARNING")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def tokenbill(
    *args: str, database_url: str | None, cwd: Path, expect: int = 0, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [TOKENBILL, *args], env=environment(database_url), cwd=cwd,
        capture_output=True, text=True, timeout=120, input=stdin,
    )  # fmt: skip
    assert result.returncode == expect, (result.stdout, result.stderr)
    return result


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        return list(conn.execute(sql, params).fetchall())


@pytest.fixture(scope="module")
def seeded(cli_database: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    cwd = tmp_path_factory.mktemp("cli")
    migrated = tokenbill("migrate", database_url=cli_database, cwd=cwd)
    assert "migrated" in migrated.stdout
    seeded = tokenbill("seed", "--demo", database_url=cli_database, cwd=cwd)
    assert "created package Business Pack" in seeded.stdout
    assert "created user buyer@demo.test" in seeded.stdout
    return cli_database


def last_audit(url: str, action: str) -> tuple[Any, ...]:
    found = query(
        url,
        "SELECT actor_type, actor_id, target_type, target_id, before, after "
        "FROM token_audit_logs WHERE action = %s ORDER BY id DESC LIMIT 1",
        action,
    )
    assert found, f"no audit record for {action}"
    return found[0]


def test_migrate_and_seed_create_the_schema_and_demo_data(seeded: str, tmp_path: Path) -> None:
    assert query(seeded, "SELECT count(*) FROM token_packages") == [(4,)]
    again = tokenbill("seed", "--demo", database_url=seeded, cwd=tmp_path)
    assert "created" not in again.stdout
    assert "kept    user admin@demo.test" in again.stdout
    assert query(seeded, "SELECT count(*) FROM token_packages") == [(4,)]
    assert query(seeded, "SELECT count(*) FROM users") == [(3,)]


def test_token_prints_a_jwt_for_the_user(seeded: str, tmp_path: Path) -> None:
    result = tokenbill("token", "buyer@demo.test", database_url=seeded, cwd=tmp_path)
    token = result.stdout.strip()
    [(buyer_id,)] = query(seeded, "SELECT id FROM users WHERE email = 'buyer@demo.test'")
    settings = Settings(_env_file=None, jwt_secret=JWT_SECRET)
    assert user_id_from_token(settings, token) == buyer_id


def test_token_for_an_unknown_email_fails_with_one_line(seeded: str, tmp_path: Path) -> None:
    result = tokenbill("token", "nobody@demo.test", database_url=seeded, cwd=tmp_path, expect=1)
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "tokenbill: error: no user has the email nobody@demo.test"
    ]


def test_org_commands_create_list_and_deactivate_with_audit(seeded: str, tmp_path: Path) -> None:
    created = tokenbill("org", "create", "Acme Clinics", database_url=seeded, cwd=tmp_path)
    org_id = int(created.stdout.split()[2])
    assert created.stdout.strip() == f"created organization {org_id} Acme Clinics"
    assert last_audit(seeded, "organization.create")[:4] == (
        "system", "cli", "organization", str(org_id)
    )  # fmt: skip

    def listed() -> list[list[str]]:
        output = tokenbill("org", "list", database_url=seeded, cwd=tmp_path).stdout
        return [line.split() for line in output.splitlines()]

    before = listed()
    assert before[0] == ["ID", "NAME", "ACTIVE"]
    assert ["1", "Demo", "Health", "Insurer", "yes"] in before
    assert [str(org_id), "Acme", "Clinics", "yes"] in before

    tokenbill("org", "deactivate", str(org_id), database_url=seeded, cwd=tmp_path)
    audit = last_audit(seeded, "organization.deactivate")
    assert audit[:4] == ("system", "cli", "organization", str(org_id))
    assert (audit[4], audit[5]) == ({"is_active": True}, {"is_active": False})
    assert [str(org_id), "Acme", "Clinics", "no"] in listed()


def test_org_reactivate_lets_a_deactivated_organization_act_again_with_audit(
    seeded: str, tmp_path: Path
) -> None:
    created = tokenbill("org", "create", "Returning Clinic", database_url=seeded, cwd=tmp_path)
    org_id = created.stdout.split()[2]
    tokenbill("org", "deactivate", org_id, database_url=seeded, cwd=tmp_path)

    reactivated = tokenbill("org", "reactivate", org_id, database_url=seeded, cwd=tmp_path)

    assert reactivated.stdout.strip() == f"reactivated organization {org_id} Returning Clinic"
    audit = last_audit(seeded, "organization.reactivate")
    assert audit[:4] == ("system", "cli", "organization", org_id)
    assert (audit[4], audit[5]) == ({"is_active": False}, {"is_active": True})


def test_user_commands_manage_users_and_permissions_with_audit(seeded: str, tmp_path: Path) -> None:
    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return tokenbill(*args, database_url=seeded, cwd=tmp_path, expect=expect)

    created = run(
        "user", "create", "Nurse@Clinic.test", "--user-type", "insurance",
        "--organization", "1", "--permission", "tokens.view",
    )  # fmt: skip
    user_id = int(created.stdout.split()[2])
    assert "nurse@clinic.test" in created.stdout
    assert last_audit(seeded, "user.create")[:4] == ("system", "cli", "user", str(user_id))

    run("user", "grant", str(user_id), "tokens.purchase")
    audit = last_audit(seeded, "user.permission_grant")
    assert audit[4:] == (
        {"permissions": ["tokens.view"]},
        {"permissions": ["tokens.purchase", "tokens.view"]},
    )
    run("user", "revoke", str(user_id), "tokens.view")
    assert query(seeded, "SELECT permissions FROM users WHERE id = %s", user_id) == [
        (["tokens.purchase"],)
    ]
    assert last_audit(seeded, "user.permission_revoke")[3] == str(user_id)

    listed = run("user", "list", "--organization", "1").stdout
    assert "nurse@clinic.test" in listed
    assert "buyer@demo.test" in listed
    assert "admin@demo.test" not in listed

    run("user", "deactivate", str(user_id))
    assert last_audit(seeded, "user.deactivate")[3] == str(user_id)
    refused = run("token", "nurse@clinic.test", expect=1)
    assert "deactivated" in refused.stderr

    duplicate = run("user", "create", "nurse@clinic.test", expect=1)
    assert "already exists" in duplicate.stderr


def test_link_subject_names_a_user_at_the_identity_provider_once(
    seeded: str, tmp_path: Path
) -> None:
    [(user_id,)] = query(seeded, "SELECT id FROM users WHERE email = %s", "viewer@demo.test")
    [(other_id,)] = query(seeded, "SELECT id FROM users WHERE email = %s", "buyer@demo.test")
    subject = f"auth0|{user_id}-cli"
    done = tokenbill(
        "user", "link-subject", str(user_id), subject, database_url=seeded, cwd=tmp_path
    )  # fmt: skip
    assert done.stdout.strip() == f"linked user {user_id} viewer@demo.test to subject {subject}"
    audit = last_audit(seeded, "user.link_subject")
    assert audit[:4] == ("system", "cli", "user", str(user_id))
    assert audit[5] == {"external_subject": subject}
    taken = tokenbill(
        "user", "link-subject", str(other_id), subject,
        database_url=seeded, cwd=tmp_path, expect=1,
    )  # fmt: skip
    assert "another user is linked" in taken.stderr


def test_set_password_reads_stdin_stores_an_argon2id_hash_and_audits(
    seeded: str, tmp_path: Path
) -> None:
    done = tokenbill(
        "user", "set-password", "viewer@demo.test",
        database_url=seeded, cwd=tmp_path, stdin="a long enough secret\n",
    )  # fmt: skip
    assert "set the console password of user" in done.stdout
    [(stored,)] = query(
        seeded, "SELECT password_hash FROM users WHERE email = %s", "viewer@demo.test"
    )
    assert stored.startswith("$argon2id$") and "a long enough secret" not in stored
    actor_type, actor_id, target_type, *_ = last_audit(seeded, "user.password_set")
    assert (actor_type, actor_id, target_type) == ("system", "cli", "user")


def test_set_password_refuses_a_short_password_an_unknown_user_and_argv(
    seeded: str, tmp_path: Path
) -> None:
    short = tokenbill(
        "user", "set-password", "viewer@demo.test",
        database_url=seeded, cwd=tmp_path, stdin="short\n", expect=1,
    )  # fmt: skip
    assert "12 to 1024 characters" in short.stderr
    unknown = tokenbill(
        "user", "set-password", "nobody@demo.test",
        database_url=seeded, cwd=tmp_path, stdin="a long enough secret\n", expect=1,
    )  # fmt: skip
    assert "nobody@demo.test" in unknown.stderr
    tokenbill(
        "user", "set-password", "viewer@demo.test", "a long enough secret",
        database_url=seeded, cwd=tmp_path, expect=2,
    )  # fmt: skip


def test_unknown_ids_fail_with_a_clear_message(seeded: str, tmp_path: Path) -> None:
    result = tokenbill("user", "deactivate", "999999", database_url=seeded, cwd=tmp_path, expect=1)
    assert result.stderr.strip() == "tokenbill: error: user 999999 does not exist"
    result = tokenbill(
        "user", "create", "x@y.test", "--organization", "424242",
        database_url=seeded, cwd=tmp_path, expect=1,
    )  # fmt: skip
    assert result.stderr.strip() == "tokenbill: error: organization 424242 does not exist"


def test_wrong_usage_exits_2(seeded: str, tmp_path: Path) -> None:
    for args in (["user", "grant", "1", "tokens.everything"], ["org"], ["fly"], ["org", "x"]):
        result = tokenbill(*args, database_url=seeded, cwd=tmp_path, expect=2)
        assert "usage: tokenbill" in result.stderr


def test_commands_without_a_database_url_say_so(tmp_path: Path) -> None:
    result = tokenbill("org", "list", database_url=None, cwd=tmp_path, expect=1)
    assert result.stderr.strip().splitlines() == [
        "tokenbill: error: DATABASE_URL is not set, and no `tokenbill dev` database is in .data/"
    ]


def test_an_unmigrated_database_gets_a_hint(database_url: str, tmp_path: Path) -> None:
    url = recreate_database(database_url, "tokenbill_cli_empty")
    try:
        result = tokenbill("org", "list", database_url=url, cwd=tmp_path, expect=1)
    finally:
        drop_database(database_url, "tokenbill_cli_empty")
    assert "run `tokenbill migrate` first" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
