"""cleanupExpiredTokens' batch: expire each lot past its date (exactly its unspent remainder,
once), and tell the organization once per lot when one is about to expire."""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.wallet_batches import WalletOutcome, handle_wallets, load_page, page_end
from db.audit import Actor, write_audit
from db.errors import LotNotExpired
from db.expiry import OpenLot, expire_lot, expiry_key, expiry_notice_key, open_lots_expiring_before
from db.notifications import record_event
from db.wallet_pages import WalletRow
from tokenbill.settings import Settings
from workflows.job_types import BatchOutcome, JobCounts, WalletBatch
from workflows.operations_job_types import CLEANUP_EXPIRED_TOKENS_JOB, EXPIRE_TOKENS_BATCH

TOKENS_EXPIRED = "wallet.tokens_expired"
TOKENS_EXPIRING = "wallet.tokens_expiring"
JOB_ACTOR = Actor.system(CLEANUP_EXPIRED_TOKENS_JOB)


class ExpiryActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.expire_tokens_batch]

    @activity.defn(name=EXPIRE_TOKENS_BATCH)
    async def expire_tokens_batch(self, batch: WalletBatch) -> BatchOutcome:
        if not self._settings.token_expiration_enabled:
            return BatchOutcome(
                counts=JobCounts(details={"expiration_disabled": 1}), last_wallet_id=None
            )
        now = datetime.now(UTC)
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        lots_by_wallet: dict[int, list[OpenLot]] = defaultdict(list)
        if page:
            async with self._session_maker() as session:
                horizon = now + self._settings.token_expiration_notice_lead
                lots = await open_lots_expiring_before(session, [w.id for w in page], horizon)
            for lot in lots:
                lots_by_wallet[lot.wallet_id].append(lot)

        async def handle(wallet: WalletRow) -> WalletOutcome:
            return await self._wallet(lots_by_wallet[wallet.id], now)

        outcome = await handle_wallets(page, CLEANUP_EXPIRED_TOKENS_JOB, handle)
        return BatchOutcome(counts=outcome.counts, last_wallet_id=page_end(page))

    async def _wallet(self, lots: list[OpenLot], now: datetime) -> WalletOutcome:
        expired = notices = 0
        for lot in lots:
            if lot.expires_at <= now:
                expired += await self._expire(lot)
            else:
                notices += await self._notify_ahead(lot)
        return WalletOutcome(
            changed=bool(expired or notices),
            details={"lots_expired": expired, "expiry_notices": notices},
        )

    async def _expire(self, lot: OpenLot) -> int:
        try:
            return await self._book_expiry(lot)
        except LotNotExpired:
            # This worker's clock is ahead of the database's: the next sweep books it.
            return 0

    async def _book_expiry(self, lot: OpenLot) -> int:
        async with self._session_maker() as session, session.begin():
            posting = await expire_lot(session, lot.id)
            if posting is None or posting.replayed:
                return 0
            payload = {
                "lot_id": lot.id,
                "amount": str(posting.amount),
                "expires_at": lot.expires_at.isoformat(),
                "credited_at": lot.credited_at.isoformat(),
                "balance_after": str(posting.balance_after),
                "transaction_id": posting.transaction_id,
            }
            await write_audit(
                session,
                actor=JOB_ACTOR,
                action="tokens.expired",
                organization_id=lot.organization_id,
                target_type="token_lot",
                target_id=lot.id,
                before={"remaining_amount": str(posting.amount)},
                after={"remaining_amount": "0", "transaction_id": posting.transaction_id},
            )
            await record_event(
                session,
                idempotency_key=expiry_key(lot.id),
                event_type=TOKENS_EXPIRED,
                payload=payload,
                organization_id=lot.organization_id,
                wallet_id=lot.wallet_id,
            )
            return 1

    async def _notify_ahead(self, lot: OpenLot) -> int:
        async with self._session_maker() as session, session.begin():
            event_id = await record_event(
                session,
                idempotency_key=expiry_notice_key(lot.id),
                event_type=TOKENS_EXPIRING,
                severity="warning",
                payload={
                    "lot_id": lot.id,
                    "remaining_amount": str(lot.remaining_amount),
                    "expires_at": lot.expires_at.isoformat(),
                },
                organization_id=lot.organization_id,
                wallet_id=lot.wallet_id,
            )
        return 0 if event_id is None else 1
