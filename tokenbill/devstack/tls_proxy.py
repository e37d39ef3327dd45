"""A TLS-terminating proxy in front of a local Temporal server, as a secured cluster is reached:
HAProxy (Debian's haproxy) with certificates made here (a CA, a server and a client certificate),
requiring a client certificate signed by that CA (mutual TLS).

HAProxy rather than stunnel: gRPC clients (Temporal's is tonic, in Rust) refuse a TLS server that
does not agree on HTTP/2 by ALPN ("H2NotNegotiated"), and stunnel cannot offer ALPN. HAProxy
terminates TLS offering `h2` and passes the HTTP/2 stream on, in TCP mode, to the plaintext port.
"""

import datetime
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tokenbill.devstack.ports import free_port, wait_for_port
from tokenbill.devstack.processes import start_process, stop_process

CERTIFICATE_LIFETIME = datetime.timedelta(days=2)


class HaproxyMissing(RuntimeError):
    """HAProxy is not installed (Debian: apt-get install haproxy)."""


@dataclass(frozen=True)
class CertificateFiles:
    """PEM files: the CA, the server's certificate and key, a client's certificate and key."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(folder: Path, server_name: str = "localhost") -> CertificateFiles:
    """A CA, a server certificate for `server_name` and 127.0.0.1, and a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("tokenbill test CA", ca_key, None, ca_key, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        server_name, server_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.DNSName(server_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate(
        "tokenbill worker", client_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files = CertificateFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(_key_pem(server_key))
    files.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    files.client_key.write_bytes(_key_pem(client_key))
    for key_file in (files.server_key, files.client_key):
        key_file.chmod(0o600)
    return files


def haproxy_path() -> Path:
    found = shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(path).exists()),
        None,
    )
    if found is None:
        raise HaproxyMissing("HAProxy is not installed; on Debian: apt-get install haproxy")
    return Path(found)


@dataclass
class MutualTlsProxy:
    """HAProxy accepting TLS on 127.0.0.1:`port` (ALPN h2; a client certificate signed by the CA
    required) and forwarding the stream to the plaintext `upstream`."""

    upstream: str
    certificates: CertificateFiles
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "MutualTlsProxy":
        bundle = self.folder / "server-bundle.pem"  # HAProxy takes certificate and key in one file
        bundle.write_bytes(
            self.certificates.server_cert.read_bytes() + self.certificates.server_key.read_bytes()
        )
        bundle.chmod(0o600)
        config = self.folder / "haproxy.cfg"
        config.write_text(
            "defaults\n"
            "  mode tcp\n"
            "  timeout connect 5s\n"
            "  timeout client 1h\n"
            "  timeout server 1h\n"
            "frontend temporal_tls\n"
            f"  bind 127.0.0.1:{self.port} ssl crt {bundle} ca-file {self.certificates.ca} "
            "verify required alpn h2\n"
            "  default_backend temporal\n"
            "backend temporal\n"
            f"  server temporal {self.upstream}\n"
        )
        self.process = start_process(
            [str(haproxy_path()), "-db", "-f", str(config)], log_path=self.folder / "haproxy.log"
        )
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
