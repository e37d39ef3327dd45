"""The delivery activity reaches only addresses it checked: it refuses non-public ones at every
attempt, connects to the address it resolved (not a second lookup's), and logs failures as
categories, never exception text. Over HTTPS it sends the URL's host as SNI and verifies the
certificate for it. Every packet stays on 127.0.0.1."""

import ipaddress
import socket
import ssl
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.outbound_http import FAILURE_MESSAGES
from activities.webhook_delivery import WebhookDeliveryActivities
from db.notifications import record_event
from tests.database_helpers import rows
from tests.notification_helpers import Receiver, create_endpoint
from tests.purchase_helpers import Maker
from tokenbill.outbound_addresses import IPAddress
from tokenbill.settings import Settings
from workflows.webhook_delivery_types import (
    WEBHOOK_REJECTED,
    DeliveryRetry,
    WebhookDeliveryInput,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


class RebindingResolver:
    """Answers the receiver's address first and another one after: a DNS rebinding."""

    def __init__(self, first: str, later: str) -> None:
        self.answers = [ipaddress.ip_address(first), ipaddress.ip_address(later)]
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups += 1
        return [self.answers[min(self.lookups, 2) - 1]]


async def planned(
    session_maker: Maker, settings: Settings, organization_id: int, url: str
) -> WebhookDeliveryInput:
    endpoint_id, _ = await create_endpoint(session_maker, organization_id, url, settings=settings)
    async with session_maker() as session, session.begin():
        event_id = await record_event(
            session, idempotency_key=f"test:{uuid.uuid4().hex}", event_type="purchase.completed",
            payload={"purchase_reference_id": "TKP-TEST"}, organization_id=organization_id,
        )  # fmt: skip
        delivery_id = await session.scalar(
            text(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, organization_id) "
                "VALUES (:e, :ev, :o) RETURNING id"
            ),
            {"e": endpoint_id, "ev": event_id, "o": organization_id},
        )
    assert event_id is not None and delivery_id is not None
    retry = DeliveryRetry(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=1),
        maximum_attempts=3, timeout=timedelta(seconds=5),
    )  # fmt: skip
    return WebhookDeliveryInput(
        delivery_id=int(delivery_id), endpoint_id=endpoint_id, event_id=event_id,
        organization_id=organization_id, retry=retry,
    )  # fmt: skip


async def attempt_log(session_maker: Maker, delivery_id: int) -> list[tuple[int | None, str]]:
    found = await rows(
        session_maker,
        "SELECT status_code, error FROM webhook_delivery_attempts WHERE delivery_id = :d "
        "ORDER BY id",
        d=delivery_id,
    )
    return [(row.status_code, row.error) for row in found]


def closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_delivery_to_a_non_public_address_is_refused_without_a_post(
    session_maker: Maker, db_settings: Settings, make_organization, receiver: Receiver
) -> None:
    # Saved while allowed (or the name resolved elsewhere then): checked again at delivery.
    delivery = await planned(session_maker, db_settings, await make_organization(), receiver.url)
    deliver = WebhookDeliveryActivities(session_maker, db_settings).deliver

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(deliver, delivery)

    assert refused.value.non_retryable and refused.value.type == WEBHOOK_REJECTED
    assert receiver.received == []
    assert await attempt_log(session_maker, delivery.delivery_id) == [
        (None, FAILURE_MESSAGES["address"])
    ]


async def test_delivery_connects_to_the_address_it_checked_with_the_original_host(
    session_maker: Maker, db_settings: Settings, make_organization, receiver: Receiver
) -> None:
    settings = db_settings.model_copy(update={"webhook_allow_private_addresses": True})
    port = int(receiver.url.split(":")[2].split("/")[0])
    url = f"http://hooks.tokenbill.test:{port}/hooks"
    delivery = await planned(session_maker, settings, await make_organization(), url)
    # A second lookup would answer an address nothing listens on.
    resolver = RebindingResolver("127.0.0.1", "127.0.0.2")
    deliver = WebhookDeliveryActivities(session_maker, settings, resolver=resolver).deliver

    outcome = await ActivityEnvironment().run(deliver, delivery)

    assert outcome.status_code == 200
    assert resolver.lookups == 1
    [request] = receiver.received
    assert request.headers["Host"] == f"hooks.tokenbill.test:{port}"
    assert request.path == "/hooks"


async def test_failed_connection_is_logged_as_a_category_without_exception_text(
    session_maker: Maker, db_settings: Settings, make_organization
) -> None:
    settings = db_settings.model_copy(update={"webhook_allow_private_addresses": True})
    url = f"http://127.0.0.1:{closed_local_port()}/hooks"
    delivery = await planned(session_maker, settings, await make_organization(), url)
    deliver = WebhookDeliveryActivities(session_maker, settings).deliver

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(deliver, delivery)

    assert not failed.value.non_retryable
    assert failed.value.message == FAILURE_MESSAGES["refused"]
    assert await attempt_log(session_maker, delivery.delivery_id) == [
        (None, FAILURE_MESSAGES["refused"])
    ]


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class LocalAuthority:
    """A certificate authority of the test's own, and the server certificates it signs."""

    folder: Path
    key: ec.EllipticCurvePrivateKey = field(default_factory=new_key)

    def __post_init__(self) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokenbill test CA")])
        self.certificate = (
            self._builder(name, name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def _builder(
        self, subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(hours=1))
        )

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(
            cadata=self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        )

    def server_context(self, host: str, names_seen: list[str | None]) -> ssl.SSLContext:
        key = new_key()
        certificate = (
            self._builder(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
                self.certificate.subject,
                key.public_key(),
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain = self.folder / f"{host}.pem"
        chain.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + certificate.public_bytes(serialization.Encoding.PEM)
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        context.sni_callback = lambda _socket, name, _context: names_seen.append(name)
        return context


@pytest.mark.parametrize(
    ("certificate_host", "accepted"), [("hooks.tokenbill.test", True), ("other.test", False)]
)
async def test_https_delivery_verifies_the_certificate_for_the_url_host_not_the_address(
    session_maker: Maker,
    db_settings: Settings,
    make_organization,
    tmp_path: Path,
    certificate_host: str,
    accepted: bool,
) -> None:
    authority = LocalAuthority(tmp_path)
    names_seen: list[str | None] = []
    receiver = Receiver(tls=authority.server_context(certificate_host, names_seen)).start()
    try:
        settings = db_settings.model_copy(update={"webhook_allow_private_addresses": True})
        url = f"https://hooks.tokenbill.test:{receiver.port}/hooks"
        delivery = await planned(session_maker, settings, await make_organization(), url)
        deliver = WebhookDeliveryActivities(
            session_maker, settings, resolver=RebindingResolver("127.0.0.1", "127.0.0.2"),
            tls=authority.client_context(),
        ).deliver  # fmt: skip

        if accepted:
            outcome = await ActivityEnvironment().run(deliver, delivery)
            assert outcome.status_code == 200
            assert receiver.received[0].headers["Host"] == f"hooks.tokenbill.test:{receiver.port}"
        else:
            with pytest.raises(ApplicationError) as refused:
                await ActivityEnvironment().run(deliver, delivery)
            assert refused.value.message == FAILURE_MESSAGES["tls"]
            assert receiver.received == []
    finally:
        receiver.stop()
    assert names_seen == ["hooks.tokenbill.test"]
