"""Browser tests: Debian's Chromium driven by Playwright against the running stack.

Every request the browser makes outside loopback is aborted and counted (nothing may leave the
machine; a page must not need the internet), and every console error is collected. Without a
Chromium the tests are skipped, loudly; under CI (CI=true) that is a failure instead.
"""

import ipaddress
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from db.audit import Actor
from services.sign_in.passwords import set_password
from tests.running_stack import RunningStack

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SKIP_BANNER = "BROWSER TESTS SKIPPED"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
# Quiet Chromium's own traffic (updates, sync, metrics): only the pages' requests remain.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]


@pytest.fixture(scope="session")
def session_maker(
    stack_session_maker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """The stack's database (overrides the session's)."""
    return stack_session_maker


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_browser(reason: str) -> None:
    message = f"{SKIP_BANNER}: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message.replace("SKIPPED", "CANNOT RUN UNDER CI"), pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium to drive, with Playwright importable; else skipped (failed under CI)."""
    if not CHROMIUM.exists():
        _no_browser(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _no_browser("Playwright for Python is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watch:
    """What the browser asked of the outside world, and what the pages logged as errors."""

    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@dataclass
class Browsing:
    base_url: str
    context: Any
    page: Any
    watch: Watch

    async def accessibility_violations(self) -> list[str]:
        """axe-core's serious and critical violations on the page. It is evaluated through the
        DevTools protocol, which the page's policy (no inline script) does not govern."""
        await self.page.evaluate(AXE_SOURCE)
        found = await self.page.evaluate("async () => (await axe.run()).violations")
        return [
            f"{violation['id']} ({violation['impact']}): {violation['help']}"
            for violation in found
            if violation["impact"] in SERIOUS
        ]

    async def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path


NewBrowsing = Callable[..., Awaitable[Browsing]]
AXE_SOURCE = AXE.read_text()


@pytest.fixture
async def new_browsing(browser: Any, running_stack: RunningStack) -> AsyncIterator[NewBrowsing]:
    """Fresh browser contexts (own cookies) on the stack; each refuses the outside world."""
    opened: list[Browsing] = []

    async def open_one(width: int = 1280, height: int = 900) -> Browsing:
        watch = Watch()
        context = await browser.new_context(
            base_url=running_stack.api_url, viewport={"width": width, "height": height}
        )

        async def guard(route: Any) -> None:
            if is_loopback(route.request.url):
                await route.continue_()
            else:
                watch.outside.append(route.request.url)
                await route.abort()

        await context.route("**/*", guard)
        page = await context.new_page()
        page.on(
            "console",
            lambda message: (
                watch.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: watch.console_errors.append(str(error)))
        browsing = Browsing(running_stack.api_url, context, page, watch)
        opened.append(browsing)
        return browsing

    yield open_one
    for browsing in opened:
        await browsing.context.close()
    outside = [url for browsing in opened for url in browsing.watch.outside]
    assert not outside, f"requests outside loopback: {outside}"


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    organization_id: int | None


MakeMember = Callable[..., Awaitable[Member]]


@pytest.fixture
def make_member(session_maker: async_sessionmaker[AsyncSession]) -> MakeMember:
    async def make(
        organization_id: int | None, permissions: tuple[str, ...] = (directory.VIEW,)
    ) -> Member:
        email = f"browser-{uuid.uuid4().hex[:10]}@web.test"
        async with session_maker() as session, session.begin():
            record = await directory.create_user(
                session, email=email, organization_id=organization_id,
                permissions=permissions, actor=Actor.system("tests"),
            )  # fmt: skip
            await set_password(session, email, PASSWORD, actor=Actor.system("tests"))
        return Member(record.id, email, organization_id)

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    reasons = {
        str(report.longrepr[2])
        for report in skipped
        if isinstance(report.longrepr, tuple) and SKIP_BANNER in str(report.longrepr[2])
    }
    if reasons:
        terminalreporter.write_sep("!", SKIP_BANNER, red=True, bold=True)
        for reason in sorted(reasons):
            terminalreporter.write_line(reason.removeprefix("Skipped: "), red=True, bold=True)
        terminalreporter.write_line(
            "The console was not proven in a browser; under CI (CI=true) this fails the run.",
            red=True,
            bold=True,
        )
