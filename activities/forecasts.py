"""updateUsageForecasts' batch: read a page of wallets' consumption, forecast, store."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.wallet_batches import WalletOutcome, handle_wallets, load_page
from db.forecasts import (
    ForecastRecord,
    active_package_sizes,
    daily_consumption,
    history_starts,
    save_forecast,
)
from db.wallet_pages import WalletRow
from domain.forecasting import (
    WEEKDAYS,
    ForecastParameters,
    PackageOption,
    UsageForecast,
    forecast_usage,
)
from tokenbill.settings import Settings
from workflows.job_types import BatchOutcome, WalletBatch
from workflows.operations_job_types import FORECAST_BATCH, UPDATE_USAGE_FORECASTS_JOB


def forecast_parameters(settings: Settings) -> ForecastParameters:
    return ForecastParameters(
        window_days=settings.forecast_window_days,
        half_life_days=settings.forecast_half_life_days,
        coverage_days=settings.forecast_coverage_days,
    )


def forecast_record(wallet: WalletRow, forecast: UsageForecast) -> ForecastRecord:
    factors = forecast.weekday_factors
    return ForecastRecord(
        wallet_id=wallet.id,
        organization_id=wallet.organization_id,
        forecast_date=forecast.as_of,
        current_balance=wallet.current_balance,
        history_days=forecast.history_days,
        method=forecast.method,
        average_daily_consumption=forecast.average_daily_consumption,
        trend_per_day=forecast.trend_per_day,
        weekday_factors=(
            None if factors is None else {d: str(f) for d, f in zip(WEEKDAYS, factors, strict=True)}
        ),
        coverage_days=forecast.coverage_days,
        projected_consumption=forecast.projected_consumption,
        projected_depletion_date=forecast.depletion_date,
        days_remaining=forecast.days_remaining,
        suggested_package_id=forecast.suggested_package_id,
        suggested_topup_amount=forecast.suggested_topup_amount,
        confidence=forecast.confidence,
    )


class ForecastActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.forecast_batch]

    @activity.defn(name=FORECAST_BATCH)
    async def forecast_batch(self, batch: WalletBatch) -> BatchOutcome:
        today = datetime.now(UTC).date()
        parameters = forecast_parameters(self._settings)
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        ids = [w.id for w in page]
        async with self._session_maker() as session:
            since = today - timedelta(days=parameters.window_days)
            usage = await daily_consumption(session, ids, since, today) if ids else {}
            starts = await history_starts(session, ids) if ids else {}
            packages = [PackageOption(i, q) for i, q in await active_package_sizes(session)]

        async def handle(wallet: WalletRow) -> WalletOutcome:
            forecast = forecast_usage(
                as_of=today,
                history_start=starts.get(wallet.id, today),
                daily_consumption=usage.get(wallet.id, {}),
                balance=wallet.current_balance,
                packages=packages,
                parameters=parameters,
            )
            async with self._session_maker() as session, session.begin():
                await save_forecast(session, forecast_record(wallet, forecast))
            return WalletOutcome(changed=True)

        return await handle_wallets(page, UPDATE_USAGE_FORECASTS_JOB, handle)
