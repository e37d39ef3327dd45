"""`tokenbill api`: serve the API with uvicorn on API_HOST:API_PORT (3000 by default)."""

import logging

import uvicorn

from api.app import create_app
from tokenbill.settings import Settings, get_settings, require_production_secrets
from tokenbill.temporal_connect import temporal_tls


def run_api(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    require_production_secrets(settings)
    temporal_tls(settings)  # a wrong certificate path fails now, not at the first request
    if not logging.getLogger().handlers:
        logging.basicConfig(level=settings.log_level.upper())
    # log_config=None: uvicorn's lines go through the JSON handlers `tokenbill api` installed.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
