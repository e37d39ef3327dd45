"""The one settings module: the seed's configuration names and defaults, plus infrastructure."""

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_SECRET = "change-me-in-production-tokenbill-dev-secret"
MIN_JWT_SECRET_BYTES = 32
# Public-key JWS algorithms only: an HMAC or `none` token from the identity provider is refused.
SignatureAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"
]
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def default_identity_provider_algorithms() -> list[SignatureAlgorithm]:
    return ["RS256", "ES256"]


class Settings(BaseSettings):
    """Every setting, read from the environment (and `.env`), named as the seed names them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- The seed's token management configuration ---
    enable_token_system: bool = True
    default_token_price: Decimal = Field(default=Decimal("0.50"), gt=0)
    token_currency: str = Field(default="USD", min_length=3, max_length=3)
    token_expiration_enabled: bool = False
    token_expiration_days: int = Field(default=365, gt=0)
    token_low_balance_threshold: Decimal = Decimal("100")
    token_critical_balance_threshold: Decimal = Decimal("50")
    token_auto_topup_enabled: bool = True
    token_subscription_grace_period_days: int = Field(default=7, ge=0)
    token_subscription_minimum_interval: timedelta = timedelta(days=1)
    token_subscription_reminder_lead: timedelta = timedelta(days=3)
    token_subscription_dunning_schedule: Annotated[list[timedelta], NoDecode] = Field(
        default_factory=lambda: [timedelta(days=1), timedelta(days=3), timedelta(days=5)],
        description="Payment retries after a failed charge, as offsets from the first failure",
    )
    token_subscription_cancel_after_suspension: timedelta = timedelta(days=30)
    token_invoice_tax_rate: Decimal = Field(default=Decimal("0.16"), ge=0, lt=1)
    token_invoice_due_days: int = Field(default=30, ge=0)
    log_level: str = "INFO"

    # --- Infrastructure ---
    database_url: str | None = None
    database_pool_size: int = Field(default=20, gt=0)
    database_assume_app_role: bool = Field(
        default=True,
        description="Run application sessions as the restricted tokenbill_app role (SET ROLE)",
    )
    database_owner_url: str | None = Field(
        default=None,
        description="Owner login for audit partitions and retention; unset, DATABASE_URL",
    )
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "tokenbill"
    temporal_tls: bool = Field(
        default=False,
        description="Connect to Temporal over TLS (implied by a TEMPORAL_TLS_* file or an API key)",
    )
    temporal_tls_ca_file: str | None = Field(
        default=None, description="PEM file of the CA that signed the Temporal server's certificate"
    )
    temporal_tls_cert_file: str | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with the key file)"
    )
    temporal_tls_key_file: str | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Name to verify the server's certificate against"
    )
    temporal_api_key: str | None = Field(
        default=None, description="Temporal Cloud API key, sent as a bearer token over TLS"
    )
    data_dir: str = ".data"

    # --- `tokenbill dev`: fixed local ports (PostgreSQL off 5432, beside a system server) ---
    dev_postgres_port: int = Field(default=54329, gt=0, lt=65536)
    dev_temporal_port: int = Field(default=7233, gt=0, lt=65536)
    dev_temporal_ui_port: int = Field(default=8233, gt=0, lt=65536)
    dev_stripe_standin: bool = Field(
        default=True,
        description="With PAYMENT_GATEWAY=stripe, `tokenbill dev` runs the local Stripe stand-in "
        "and points the API and worker at it; false: the STRIPE_* settings as given",
    )
    dev_stripe_standin_port: int = Field(default=12111, gt=0, lt=65536)
    log_dir: str = "logs"

    # --- API ---
    api_host: str = "0.0.0.0"
    api_port: int = 3000
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_issuer: str = "tokenbill"
    jwt_ttl: timedelta = timedelta(hours=12)
    max_request_body_bytes: int = Field(default=1_048_576, gt=0)
    purchase_rate_limit: int = Field(default=60, gt=0)
    purchase_rate_window: timedelta = timedelta(minutes=1)
    max_purchase_quantity: int = Field(default=100, gt=0)
    spend_pool_size: int = Field(default=20, gt=0)
    api_key_cache_ttl: timedelta = Field(default=timedelta(seconds=5), ge=timedelta(0))
    spend_coalesce_window: timedelta = Field(
        default=timedelta(milliseconds=2),
        ge=timedelta(0),
        le=timedelta(seconds=1),
        description="How long a single spend, new hold, capture or release waits for others to "
        "share its transaction; 0: off",
    )
    spend_coalesce_adaptive: bool = Field(
        default=True,
        description="A single spend or hold command with nothing in flight in this process starts "
        "at once",
    )
    spend_coalesce_max_batch: int = Field(
        default=64,
        gt=0,
        le=1000,
        description="Single spends and hold commands applied in one coalesced transaction",
    )
    principal_cache_ttl: timedelta = Field(default=timedelta(seconds=5), ge=timedelta(0))

    # --- Bearer tokens of the host system's identity provider (all unset: not accepted) ---
    identity_provider_jwks_url: str | None = Field(
        default=None,
        description="JWKS URL of the identity provider whose tokens the API also accepts",
    )
    identity_provider_issuer: str | None = Field(
        default=None, description="The `iss` the provider's tokens must carry"
    )
    identity_provider_audience: str | None = Field(
        default=None, description="The `aud` the provider's tokens must be meant for"
    )
    identity_provider_user_claim: Literal["email", "sub"] = Field(
        default="email",
        description="email: the user with that address; sub: the user linked to that subject",
    )
    identity_provider_algorithms: Annotated[list[SignatureAlgorithm], NoDecode] = Field(
        default_factory=default_identity_provider_algorithms,
        description="Signature algorithms accepted from the provider (public-key ones only)",
    )
    identity_provider_jwks_cache_ttl: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0),
        description="How long fetched keys are used before the JWKS URL is read again",
    )  # fmt: skip
    identity_provider_jwks_min_refetch: timedelta = Field(
        default=timedelta(seconds=30), ge=timedelta(0),
        description="Shortest time between two reads of the JWKS URL (unknown key ids, failures)",
    )  # fmt: skip
    identity_provider_jwks_timeout: timedelta = Field(
        default=timedelta(seconds=5), gt=timedelta(0),
        description="Timeout of one read of the JWKS URL",
    )  # fmt: skip

    # --- Payments and workers ---
    payment_gateway: Literal["sandbox", "stripe"] = "sandbox"
    stripe_secret_key: SecretStr = Field(
        default=SecretStr(""), description="Stripe's secret API key (sk_test_... or sk_live_...)"
    )
    stripe_webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="The signing secret of Stripe's webhook endpoint (whsec_...)",
    )
    stripe_publishable_key: str = Field(
        default="", description="Stripe publishable key a client confirms a SetupIntent with"
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com",
        description="Where Stripe's API is (a local stand-in in tests and `tokenbill dev`)",
    )
    stripe_timeout: timedelta = Field(
        default=timedelta(seconds=30), gt=timedelta(0),
        description="How long one Stripe request may take before it counts as unanswered",
    )  # fmt: skip
    pending_purchase_resume_after: timedelta = Field(
        default=timedelta(minutes=2),
        description="Age after which a pending purchase without a workflow is started again",
    )
    pending_purchase_resume_batch: int = Field(default=500, gt=0)
    sandbox_gateway_latency: timedelta = Field(
        default=timedelta(0),
        description="How long the sandbox processor takes to answer each charge or refund",
    )
    sandbox_gateway_fault_rate: float = Field(
        default=0.0, ge=0, lt=1,
        description="Share of sandbox requests failing with a processing error, nothing recorded",
    )  # fmt: skip
    sandbox_gateway_lost_response_rate: float = Field(
        default=0.0, ge=0, lt=1,
        description="Share of sandbox operations recorded whose answer is lost as a timeout",
    )  # fmt: skip
    sandbox_gateway_fault_seed: int = Field(
        default=0, description="Seed of the sandbox's fault sequence, so a run can be repeated"
    )
    worker_graceful_shutdown: timedelta = timedelta(seconds=10)
    worker_max_concurrent_activities: int = Field(default=100, gt=0)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, gt=0)
    worker_max_cached_workflows: int = Field(
        default=2500, ge=0,
        description="Workflows kept in worker memory between tasks; past it the oldest is replayed",
    )  # fmt: skip
    worker_sticky_queue_timeout: timedelta = Field(
        default=timedelta(seconds=10), gt=timedelta(0),
        description="How long a cached workflow's task waits for its worker before any takes it",
    )  # fmt: skip
    worker_max_concurrent_workflow_task_polls: int = Field(default=5, gt=0)
    worker_max_concurrent_activity_task_polls: int = Field(default=5, gt=0)
    job_schedules: dict[str, str] = Field(
        default_factory=dict,
        description="Cron overrides for background jobs by seed name, as a JSON object",
    )
    worker_metrics_port: int = Field(default=9464, ge=0, lt=65536)

    # --- Holds: reserve tokens, then capture or release them ---
    token_hold_default_ttl: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0),
        description="How long a hold lasts when the request names no expiry",
    )  # fmt: skip
    token_hold_max_ttl: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0),
        description="The longest a hold may last from its creation",
    )  # fmt: skip
    token_hold_expiry_batch_size: int = Field(default=500, gt=0, le=10_000)

    # --- Operations jobs: batches, expiry notices, usage forecasts ---
    job_batch_size: int = Field(default=200, gt=0, le=10_000)
    token_expiration_notice_lead: timedelta = Field(
        default=timedelta(days=7), description="How long before a lot expires its owner is told"
    )
    forecast_window_days: int = Field(default=56, ge=7, le=366)
    forecast_half_life_days: int = Field(default=7, gt=0)
    forecast_coverage_days: int = Field(default=30, gt=0, le=366)

    # --- Finance, audit and observability ---
    audit_log_retention_days: int = Field(default=365, gt=0)
    audit_log_partitions_ahead: int = Field(default=3, ge=1, le=24)
    unusual_purchase_factor: Decimal = Field(default=Decimal("5"), gt=0)
    unusual_purchase_floor: Decimal = Field(default=Decimal("1000.00"), ge=0)
    unusual_purchase_history_days: int = Field(default=30, gt=0)
    log_to_files: bool = True

    # --- Notifications (outbox relay, webhooks) and automatic top-up ---
    outbox_relay_batch_size: int = Field(default=100, gt=0, le=1000)
    outbox_relay_poll_interval: timedelta = timedelta(seconds=30)
    outbox_stale_after: timedelta = timedelta(minutes=5)
    webhook_timeout: timedelta = timedelta(seconds=10)
    webhook_max_attempts: int = Field(default=8, gt=0)
    webhook_retry_initial_interval: timedelta = timedelta(seconds=5)
    webhook_retry_max_interval: timedelta = timedelta(minutes=30)
    webhook_allow_private_addresses: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (dev, tests)",
    )
    webhook_secret_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Fernet keys encrypting webhook signing secrets, newest first; "
        "unset, one derived from JWT_SECRET",
    )
    webhook_test_rate_limit: int = Field(default=10, gt=0)
    webhook_test_rate_window: timedelta = timedelta(minutes=1)
    token_auto_topup_max_failures: int = Field(default=3, gt=0)
    token_auto_topup_retry_backoff: timedelta = timedelta(minutes=15)
    # Every policy that pays has caps; a policy that names none gets these, never "unlimited".
    auto_topup_default_max_per_day: int = Field(default=5, gt=0)
    auto_topup_default_max_monthly_spend: Decimal = Field(default=Decimal("1000.00"), gt=0)
    auto_topup_max_per_day_limit: int = Field(default=50, gt=0, le=1000)
    auto_topup_max_monthly_spend_limit: Decimal = Field(default=Decimal("100000.00"), gt=0)
    auto_topup_minimum_schedule_interval: timedelta = Field(
        default=timedelta(hours=1), ge=timedelta(minutes=1)
    )

    # --- The web console: sign-in sessions, throttling, embedding ---
    console_session_idle_timeout: timedelta = Field(
        default=timedelta(minutes=30), gt=timedelta(0),
        description="A console session unused this long is over",
    )  # fmt: skip
    console_session_absolute_timeout: timedelta = Field(
        default=timedelta(hours=12), gt=timedelta(0),
        description="A console session ends this long after sign-in, however busy",
    )  # fmt: skip
    console_sign_in_window: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0),
        description="The span in which failed sign-ins are counted for the throttle",
    )  # fmt: skip
    console_sign_in_max_failures_per_account: int = Field(default=5, gt=0)
    console_sign_in_max_failures_per_address: int = Field(default=20, gt=0)
    console_widget_frame_ancestors: str = Field(
        default="'none'",
        description="CSP frame-ancestors of the embeddable wallet widget (every other page: none)",
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description="Base URL of the Temporal Web UI; set, admins' purchase history links to "
        "each purchase's workflow there",
    )

    # --- Idempotency keys ---
    idempotency_key_retention: timedelta = Field(default=timedelta(days=7), ge=timedelta(hours=1))

    # --- Spend limits ---
    # Usage rows of older periods are removed by cleanupOldAuditLogs; each limit's current and
    # previous period are kept whatever this says.
    spend_limit_usage_retention: timedelta = Field(default=timedelta(days=90), ge=timedelta(days=1))

    @field_validator("token_subscription_dunning_schedule", mode="before")
    @classmethod
    def _comma_separated_durations(cls, value: object) -> object:
        """`P1D,P3D,P5D` in the environment; an empty value means no retries."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_secret_keys", mode="before")
    @classmethod
    def _comma_separated_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("identity_provider_algorithms", mode="before")
    @classmethod
    def _comma_separated_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("identity_provider_jwks_url")
    @classmethod
    def _https_or_loopback(cls, value: str | None) -> str | None:
        """Keys read over plain http could be swapped on the way: https, or http to loopback."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme == "https" and parts.hostname:
            return value.strip()
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            return value.strip()
        raise ValueError("an https:// URL (http:// only to localhost, 127.0.0.1 or ::1)")

    @model_validator(mode="after")
    def _identity_provider_complete(self) -> "Settings":
        """A JWKS URL without an issuer and an audience would accept any token its keys sign."""
        if self.identity_provider_jwks_url and not (
            self.identity_provider_issuer and self.identity_provider_audience
        ):
            raise ValueError(
                "IDENTITY_PROVIDER_JWKS_URL needs IDENTITY_PROVIDER_ISSUER and "
                "IDENTITY_PROVIDER_AUDIENCE"
            )
        if self.identity_provider_jwks_url and not self.identity_provider_algorithms:
            raise ValueError("IDENTITY_PROVIDER_ALGORITHMS names no algorithm")
        return self

    @field_validator("console_widget_frame_ancestors")
    @classmethod
    def _one_source_list(cls, value: str) -> str:
        """A CSP source list only: a `;` or a line break would add directives or headers."""
        if not value.strip() or any(char in value for char in ";,\r\n"):
            raise ValueError("a CSP frame-ancestors source list, e.g. 'self' https://host")
        return value.strip()

    @property
    def database_url_async(self) -> str:
        """The database URL in the SQLAlchemy psycopg 3 form."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (tokenbill dev starts a local database)")
        return to_sqlalchemy_url(self.database_url)


class UnsafeSettings(RuntimeError):
    """A setting that must not reach production has its development value."""


def require_production_secrets(settings: Settings) -> None:
    """Refuse the published default or a short JWT_SECRET: anyone could sign bearer tokens.

    The API and the worker call this at start; `tokenbill dev` passes them a generated secret.
    """
    if settings.jwt_secret == DEFAULT_JWT_SECRET:
        raise UnsafeSettings(
            "JWT_SECRET has its published default value; set a random secret of at least "
            f"{MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
        )
    if len(settings.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise UnsafeSettings(
            f"JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes; set a longer random secret"
        )
    if settings.payment_gateway == "stripe":
        key = settings.stripe_secret_key.get_secret_value()
        if not key:
            raise UnsafeSettings("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY")
        if key.startswith(("sk_live_", "rk_live_")) and not settings.stripe_api_base.startswith(
            "https://"
        ):
            raise UnsafeSettings("a live Stripe key goes only over https: check STRIPE_API_BASE")


def to_sqlalchemy_url(url: str) -> str:
    """Normalise `postgres://` or `postgresql://` into SQLAlchemy's psycopg 3 driver URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def to_libpq_url(url: str) -> str:
    """The same URL in the plain libpq form psycopg accepts."""
    return to_sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
