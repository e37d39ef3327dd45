"""The API and the worker reach a Temporal that requires mutual TLS, as a production cluster does:
HAProxy terminates TLS in front of a Temporal dev server of this test's own, with certificates the
test makes, and refuses any client without a certificate signed by its CA."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.jwt_tokens import issue_token
from db.audit import Actor
from db.directory import PURCHASE, VIEW, create_user
from db.migrate import upgrade_to_head
from db.models import Organization
from db.session import create_engine, create_session_maker
from tests.e2e.test_purchase_end_to_end import buy, settled
from tests.purchase_helpers import create_package
from tests.running_stack import StackProcess, stack_environment
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.devstack.health import wait_until_healthy
from tokenbill.devstack.ports import free_port
from tokenbill.devstack.temporal import LocalTemporal
from tokenbill.devstack.tls_proxy import CertificateFiles, MutualTlsProxy, make_certificates
from tokenbill.settings import Settings
from tokenbill.temporal_connect import connect_temporal

TLS_DATABASE = "tokenbill_tls"


@dataclass(frozen=True)
class SecuredTemporal:
    proxy: MutualTlsProxy
    certificates: CertificateFiles


@pytest.fixture(scope="module")
def secured_temporal(work_dir: Path) -> Iterator[SecuredTemporal]:
    folder = work_dir / "mtls"
    folder.mkdir(exist_ok=True)
    server = LocalTemporal(log_path=folder / "temporal.log").start()
    certificates = make_certificates(folder / "certificates")
    proxy = MutualTlsProxy(server.address, certificates, folder).start()
    try:
        yield SecuredTemporal(proxy, certificates)
    finally:
        proxy.stop()
        server.stop()


def client_settings(settings: Settings, secured: SecuredTemporal, **changes: object) -> Settings:
    """Settings that reach the proxy with the CA and the client certificate."""
    files = secured.certificates
    return settings.model_copy(
        update={
            "temporal_address": secured.proxy.address,
            "temporal_namespace": "default",
            "temporal_tls_ca_file": str(files.ca),
            "temporal_tls_cert_file": str(files.client_cert),
            "temporal_tls_key_file": str(files.client_key),
            "temporal_tls_server_name": "localhost",
            **changes,
        }
    )


@pytest.fixture(scope="module")
def tls_settings(
    settings: Settings, database_url: str, secured_temporal: SecuredTemporal
) -> Iterator[Settings]:
    url = recreate_database(database_url, TLS_DATABASE)
    upgrade_to_head(url)
    try:
        yield client_settings(settings, secured_temporal, database_url=url)
    finally:
        drop_database(database_url, TLS_DATABASE)


@pytest.fixture(scope="module")
async def tls_session_maker(
    tls_settings: Settings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(tls_settings, pool_size=4)
    try:
        yield create_session_maker(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def stack_over_mtls(tls_settings: Settings, work_dir: Path) -> Iterator[str]:
    port = free_port()
    env = stack_environment(tls_settings, port)
    env.update(
        TEMPORAL_NAMESPACE="default",
        TEMPORAL_TLS_CA_FILE=str(tls_settings.temporal_tls_ca_file),
        TEMPORAL_TLS_CERT_FILE=str(tls_settings.temporal_tls_cert_file),
        TEMPORAL_TLS_KEY_FILE=str(tls_settings.temporal_tls_key_file),
        TEMPORAL_TLS_SERVER_NAME="localhost",
    )
    logs = work_dir / "mtls" / "logs"
    worker = StackProcess(["worker"], env, logs / "worker.log")
    api = StackProcess(["api"], env, logs / "api.log")
    worker.start()
    api.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url)
        yield url
    finally:
        api.stop()
        worker.stop()


async def test_a_purchase_completes_through_a_temporal_that_requires_client_certificates(
    stack_over_mtls: str,
    tls_settings: Settings,
    tls_session_maker: async_sessionmaker[AsyncSession],
) -> None:
    async with tls_session_maker() as session, session.begin():
        organization = Organization(name=f"TLS Organization {uuid.uuid4().hex[:8]}")
        session.add(organization)
        await session.flush()
        buyer = await create_user(
            session, email=f"buyer-{uuid.uuid4().hex[:10]}@tls.test", user_type="insurance",
            organization_id=organization.id, permissions=[VIEW, PURCHASE],
            actor=Actor.system("e2e"),
        )  # fmt: skip
        org = organization.id
    package = await create_package(tls_session_maker)
    token = issue_token(tls_settings, buyer.id)
    async with httpx.AsyncClient(
        base_url=stack_over_mtls, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        health = (await client.get("/api/health")).json()
        assert health["checks"]["temporal"] == "up", health
        purchase = await settled(client, await buy(client, org, package))
    assert purchase["status"] == "completed", purchase
    assert Decimal(purchase["total_amount"]) == Decimal("290.00")


async def test_a_client_without_a_certificate_is_refused(
    settings: Settings, secured_temporal: SecuredTemporal
) -> None:
    without_certificate = client_settings(
        settings, secured_temporal, temporal_tls_cert_file=None, temporal_tls_key_file=None
    )
    with pytest.raises(RuntimeError):
        client = await connect_temporal(without_certificate)
        await client.service_client.check_health()


async def test_a_client_with_the_certificate_reaches_the_server(
    settings: Settings, secured_temporal: SecuredTemporal
) -> None:
    client = await connect_temporal(client_settings(settings, secured_temporal))
    assert await client.service_client.check_health()
