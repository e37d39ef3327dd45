"""The JWT secret of `tokenbill dev`: the one set, when it is safe, else one made for this data
folder and kept there, so bearer tokens and encrypted webhook secrets outlive a restart."""

import secrets
from pathlib import Path

from tokenbill.settings import Settings, UnsafeSettings, require_production_secrets

SECRET_FILE = "jwt-secret"


def dev_jwt_secret(settings: Settings) -> str:
    kept = kept_dev_jwt_secret(settings)
    if kept is not None:
        return kept
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def kept_dev_jwt_secret(settings: Settings) -> str | None:
    """The secret to use beside a `tokenbill dev`: the one set when it is safe, else the one kept
    in its data folder; None when neither exists (nothing is made here)."""
    try:
        require_production_secrets(settings)
    except UnsafeSettings:
        pass
    else:
        return settings.jwt_secret
    path = Path(settings.data_dir) / SECRET_FILE
    return path.read_text().strip() if path.exists() else None
