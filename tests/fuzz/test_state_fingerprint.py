"""The fingerprint the fuzzer takes around a refused request sees every change but an audited
refusal."""

from collections.abc import Iterator

import psycopg
import pytest

from fuzz.state import changed_tables, take_snapshot
from tokenbill.settings import to_libpq_url

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def conn(database_url: str) -> Iterator[Conn]:
    with psycopg.connect(to_libpq_url(database_url)) as connection:
        yield connection
        connection.rollback()


def test_a_renamed_organization_is_seen(conn: Conn) -> None:
    conn.execute("INSERT INTO organizations (name) VALUES ('Fingerprint Clinic')")
    before = take_snapshot(conn)
    conn.execute(
        "UPDATE organizations SET name = 'Renamed Clinic' WHERE name = 'Fingerprint Clinic'"
    )
    assert changed_tables(before, take_snapshot(conn)) == ["organizations"]


def test_an_audited_refusal_is_not_a_change_but_an_audited_action_is(conn: Conn) -> None:
    before = take_snapshot(conn)
    conn.execute(
        "INSERT INTO token_audit_logs (actor_type, actor_id, action, outcome) "
        "VALUES ('user', '1', 'access.denied', 'denied')"
    )
    assert changed_tables(before, take_snapshot(conn)) == []
    conn.execute(
        "INSERT INTO token_audit_logs (actor_type, actor_id, action) "
        "VALUES ('user', '1', 'package.create')"
    )
    assert changed_tables(before, take_snapshot(conn)) == ["token_audit_logs"]
