"""The Temporal connection settings: plaintext by default, TLS when asked, and one clear sentence
at start for a certificate file that cannot work."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from tokenbill.devstack.tls_proxy import make_certificates
from tokenbill.settings import Settings
from tokenbill.temporal_connect import TemporalConnectionSettingsError, temporal_tls

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")


def test_a_local_server_is_reached_in_plaintext() -> None:
    assert temporal_tls(Settings(temporal_address="localhost:7233")) is False


def test_an_api_key_alone_means_tls_with_the_systems_authorities() -> None:
    assert temporal_tls(Settings(temporal_api_key="key")) is True
    assert temporal_tls(Settings(temporal_tls=True)) is True


def test_mutual_tls_reads_the_ca_the_client_pair_and_the_server_name(tmp_path: Path) -> None:
    files = make_certificates(tmp_path)
    config = temporal_tls(
        Settings(
            temporal_tls_ca_file=str(files.ca),
            temporal_tls_cert_file=str(files.client_cert),
            temporal_tls_key_file=str(files.client_key),
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == files.ca.read_bytes()
    assert config.client_cert == files.client_cert.read_bytes()
    assert config.client_private_key == files.client_key.read_bytes()
    assert config.domain == "temporal.internal"


def test_a_missing_file_names_the_setting_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(TemporalConnectionSettingsError) as refused:
        temporal_tls(Settings(temporal_tls_ca_file=str(missing)))
    assert str(refused.value) == (
        f"TEMPORAL_TLS_CA_FILE names {missing}, which cannot be read: No such file or directory."
    )


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    files = make_certificates(tmp_path)
    with pytest.raises(TemporalConnectionSettingsError, match="go together"):
        temporal_tls(Settings(temporal_tls_cert_file=str(files.client_cert)))


def test_a_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TemporalConnectionSettingsError, match="not a PEM file"):
        temporal_tls(Settings(temporal_tls_ca_file=str(garbage)))


def test_the_api_does_not_start_with_an_unreadable_ca_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL", "JWT"))}
    env.update(
        JWT_SECRET="x" * 48,
        TEMPORAL_ADDRESS="127.0.0.1:1",
        TEMPORAL_TLS_CA_FILE=str(tmp_path / "missing-ca.pem"),
        LOG_DIR=str(tmp_path / "logs"),
    )
    result = subprocess.run(
        [TOKENBILL, "api"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "TEMPORAL_TLS_CA_FILE names" in result.stderr
    assert "Traceback" not in result.stderr
