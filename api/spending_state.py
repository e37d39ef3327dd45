"""What the spend routes hold for the app's lifetime: their connection pool, the API key cache,
the relay nudger, the alert defaults, the holds' TTLs (read from the settings once, not per
request) and the coalescer of single spends, holds, captures and releases (None when off)."""

from dataclasses import dataclass

from api.auth.api_key_cache import ApiKeyCache
from api.relay_nudge import RelayNudger
from db.spend_pool import SpendPool, create_spend_pool
from db.spending import AlertDefaults
from services.wallet.coalescer import LedgerCoalescer
from services.wallet.holds import HoldTtls
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient


@dataclass
class SpendingState:
    pool: SpendPool
    api_keys: ApiKeyCache
    relay: RelayNudger
    defaults: AlertDefaults
    hold_ttls: HoldTtls
    coalescer: LedgerCoalescer | None = None

    @staticmethod
    async def open(settings: Settings, temporal: WorkflowClient) -> "SpendingState":
        pool = create_spend_pool(settings)
        await pool.open(wait=False)
        defaults = AlertDefaults(
            low=settings.token_low_balance_threshold,
            critical=settings.token_critical_balance_threshold,
            auto_topup=settings.token_auto_topup_enabled,
        )
        window = settings.spend_coalesce_window.total_seconds()
        coalescer = (
            LedgerCoalescer(
                pool,
                defaults,
                window,
                settings.spend_coalesce_max_batch,
                adaptive=settings.spend_coalesce_adaptive,
            )
            if window > 0
            else None
        )
        return SpendingState(
            pool=pool,
            api_keys=ApiKeyCache(pool, settings.api_key_cache_ttl.total_seconds()),
            relay=RelayNudger(temporal),
            defaults=defaults,
            hold_ttls=HoldTtls.of(settings),
            coalescer=coalescer,
        )

    async def close(self) -> None:
        if self.coalescer is not None:
            await self.coalescer.close()
        await self.relay.close()
        await self.pool.close()
