"""The API and the worker refuse to start with the published or a short JWT_SECRET; `tokenbill
dev` makes a secret of its own; the worker says when webhooks may reach private addresses."""

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tokenbill.devstack.dev_secret import dev_jwt_secret
from tokenbill.settings import (
    DEFAULT_JWT_SECRET,
    MIN_JWT_SECRET_BYTES,
    Settings,
    UnsafeSettings,
    require_production_secrets,
)
from worker.main import warn_about_private_webhooks

SHORT_SECRET = "x" * (MIN_JWT_SECRET_BYTES - 1)


def closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`tokenbill <command>` in an empty folder (no .env), with only the given settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    clean.pop("JWT_SECRET", None)
    clean.update(LOG_LEVEL="WARNING", LOG_TO_FILES="false", API_HOST="127.0.0.1", **env)
    return subprocess.run(
        [sys.executable, "-m", "tokenbill.cli", command],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_api_refuses_to_start_with_the_default_jwt_secret(tmp_path: Path) -> None:
    result = run_cli(
        "api",
        tmp_path,
        API_PORT=str(closed_local_port()),
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
    )

    assert result.returncode == 1
    assert "JWT_SECRET" in result.stderr and "default" in result.stderr


def test_worker_refuses_to_start_with_a_short_jwt_secret(tmp_path: Path) -> None:
    result = run_cli(
        "worker",
        tmp_path,
        JWT_SECRET=SHORT_SECRET,
        TEMPORAL_ADDRESS=f"127.0.0.1:{closed_local_port()}",
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        WORKER_METRICS_PORT="0",
    )

    assert result.returncode == 1
    assert "JWT_SECRET is shorter than 32 bytes" in result.stderr


@pytest.mark.parametrize("secret", [DEFAULT_JWT_SECRET, SHORT_SECRET, ""])
def test_published_or_short_jwt_secrets_are_unsafe(secret: str) -> None:
    with pytest.raises(UnsafeSettings):
        require_production_secrets(Settings(_env_file=None, jwt_secret=secret))


def test_a_jwt_secret_of_32_bytes_is_accepted() -> None:
    require_production_secrets(Settings(_env_file=None, jwt_secret="s" * MIN_JWT_SECRET_BYTES))


def test_dev_stack_makes_a_secret_of_its_own_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=str(tmp_path / "data"))

    made = dev_jwt_secret(settings)

    assert made == dev_jwt_secret(settings)
    require_production_secrets(settings.model_copy(update={"jwt_secret": made}))
    chosen = "c" * 40
    assert dev_jwt_secret(settings.model_copy(update={"jwt_secret": chosen})) == chosen


def test_worker_warns_when_webhooks_may_reach_private_addresses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tokenbill.worker"):
        warn_about_private_webhooks(Settings(_env_file=None))
        assert caplog.records == []
        warn_about_private_webhooks(Settings(_env_file=None, webhook_allow_private_addresses=True))

    assert "WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("key", "base", "refusal"),
    [
        ("", "https://api.stripe.com", "STRIPE_SECRET_KEY"),
        ("sk_live_abc", "http://127.0.0.1:12111", "https"),
    ],
)
def test_stripe_without_a_key_or_a_live_key_over_http_is_refused(key, base, refusal):
    settings = Settings(
        _env_file=None, jwt_secret="y" * MIN_JWT_SECRET_BYTES, payment_gateway="stripe",
        stripe_secret_key=key, stripe_api_base=base,
    )  # fmt: skip
    with pytest.raises(UnsafeSettings, match=refusal):
        require_production_secrets(settings)


def test_a_test_key_may_reach_the_local_stand_in():
    require_production_secrets(
        Settings(
            _env_file=None,
            jwt_secret="y" * MIN_JWT_SECRET_BYTES,
            payment_gateway="stripe",
            stripe_secret_key="sk_test_x",
            stripe_api_base="http://127.0.0.1:12111",
        )
    )
