"""How every process of ours (API, worker, CLI) opens its Temporal client: one place for the
address, the namespace, TLS (server CA, mutual-TLS client certificate, server name), the Temporal
Cloud API key and the data converter, so connection options are set once."""

from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER


class TemporalConnectionSettingsError(RuntimeError):
    """The Temporal connection settings cannot work (a missing file, half a key pair)."""


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """The TLS configuration the settings ask for: False for plaintext, True for TLS with the
    system's CAs, or a TLSConfig with the files read now (a wrong path fails here, at start)."""
    files = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    wants_tls = settings.temporal_tls or settings.temporal_api_key is not None or any(files)
    if not wants_tls:
        return False
    cert, key = settings.temporal_tls_cert_file, settings.temporal_tls_key_file
    if (cert is None) != (key is None):
        raise TemporalConnectionSettingsError(
            "TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together: set both for mutual "
            "TLS, or neither."
        )
    if not any(files) and settings.temporal_tls_server_name is None:
        return True
    return TLSConfig(
        server_root_ca_cert=_read("TEMPORAL_TLS_CA_FILE", settings.temporal_tls_ca_file),
        client_cert=_read("TEMPORAL_TLS_CERT_FILE", cert),
        client_private_key=_read("TEMPORAL_TLS_KEY_FILE", key),
        domain=settings.temporal_tls_server_name,
    )


def _read(setting: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise TemporalConnectionSettingsError(
            f"{setting} names {path}, which cannot be read: {exc.strerror or exc}."
        ) from exc
    if b"-----BEGIN " not in content:
        raise TemporalConnectionSettingsError(f"{setting} names {path}, which is not a PEM file.")
    return content


async def connect_temporal(
    settings: Settings,
    *,
    address: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """A client of TEMPORAL_ADDRESS (or `address`) in TEMPORAL_NAMESPACE, over TLS and with the
    API key when the settings say so."""
    target = address or settings.temporal_address
    if not target:
        raise ValueError("TEMPORAL_ADDRESS is not set")
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        interceptors=interceptors,
        runtime=runtime,
        tls=temporal_tls(settings),
        api_key=settings.temporal_api_key,
    )
