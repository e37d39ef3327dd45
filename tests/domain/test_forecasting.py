"""The forecasting model on synthetic histories whose answer is known."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from domain.forecasting import ForecastParameters, PackageOption, UsageForecast, forecast_usage

MONDAY = date(2026, 3, 2)
PACKAGES = [
    PackageOption(1, Decimal(500)),
    PackageOption(2, Decimal(2000)),
    PackageOption(3, Decimal(5000)),
]


def history(days: int, usage: Callable[[int, date], int]) -> dict[date, Decimal]:
    """`days` whole days before MONDAY; usage(i, day) with i = 0 for the oldest."""
    start = MONDAY - timedelta(days=days)
    return {
        start + timedelta(days=i): Decimal(usage(i, start + timedelta(days=i))) for i in range(days)
    }


def forecast(days: int, usage: Callable[[int, date], int], balance: str = "1000") -> UsageForecast:
    return forecast_usage(
        as_of=MONDAY,
        history_start=MONDAY - timedelta(days=days),
        daily_consumption=history(days, usage),
        balance=Decimal(balance),
        packages=PACKAGES,
    )


def test_flat_usage_depletes_on_the_day_the_balance_runs_out() -> None:
    result = forecast(56, lambda i, d: 100)

    assert result.method == "ewma"
    assert result.average_daily_consumption == Decimal(100)
    assert result.trend_per_day == 0
    assert result.depletion_date == MONDAY + timedelta(days=9)
    assert result.days_remaining == 10
    assert result.projected_consumption == Decimal(3000)
    assert (result.suggested_package_id, result.suggested_topup_amount) == (2, Decimal(2000))
    assert result.confidence == Decimal(1)


def test_rising_usage_is_extrapolated_along_its_trend() -> None:
    result = forecast(28, lambda i, d: 100 + 2 * i)  # yesterday 154

    assert result.method == "ewma_trend"
    assert result.trend_per_day == Decimal(2)
    assert result.average_daily_consumption == Decimal(154)
    # 156 + 158 + ... : 966 after six days, 1134 after seven.
    assert result.depletion_date == MONDAY + timedelta(days=6)
    assert result.days_remaining == 6


def test_weekday_pattern_spends_nothing_at_weekends() -> None:
    result = forecast(28, lambda i, d: 100 if d.weekday() < 5 else 0)

    assert result.method == "ewma_weekday"
    assert result.weekday_factors == tuple(
        Decimal(f) for f in ("1.4", "1.4", "1.4", "1.4", "1.4", "0", "0")
    )
    # 500 this week, nothing at the weekend, the last 100 on the second Friday.
    assert result.depletion_date == MONDAY + timedelta(days=11)
    assert result.days_remaining == 12
    assert result.projected_consumption == Decimal(2200)  # 22 weekdays in the next 30 days


def test_no_usage_never_depletes_and_suggests_nothing() -> None:
    result = forecast(28, lambda i, d: 0)

    assert result.average_daily_consumption == 0
    assert (result.depletion_date, result.days_remaining) == (None, None)
    assert (result.suggested_package_id, result.suggested_topup_amount) == (None, None)


def test_new_wallet_with_two_days_forecasts_with_low_confidence() -> None:
    result = forecast(2, lambda i, d: 50)

    assert result.history_days == 2
    assert result.method == "ewma"
    assert result.average_daily_consumption == Decimal(50)
    assert result.days_remaining == 20
    assert result.confidence == Decimal("0.0714")  # two of the 28 days that give full confidence


def test_wallet_without_any_history_has_no_forecast_and_zero_confidence() -> None:
    result = forecast(0, lambda i, d: 0)

    assert result.method == "no_history"
    assert (result.confidence, result.depletion_date) == (Decimal(0), None)


def test_noisy_usage_lowers_confidence_but_keeps_the_level() -> None:
    steady = forecast(56, lambda i, d: 100)
    noisy = forecast(56, lambda i, d: 50 if i % 2 else 150)

    assert Decimal(90) < noisy.average_daily_consumption < Decimal(110)
    assert noisy.trend_per_day == 0
    assert Decimal("0.4") < noisy.confidence < steady.confidence


def test_recent_days_weigh_more_than_older_ones() -> None:
    result = forecast(10, lambda i, d: 100 if i < 5 else 200)  # no trend below 14 days

    assert Decimal(150) < result.average_daily_consumption < Decimal(200)


def test_shortfall_beyond_every_package_suggests_the_top_up_amount_alone() -> None:
    result = forecast(56, lambda i, d: 1000, balance="0")

    assert (result.depletion_date, result.days_remaining) == (MONDAY, 0)
    assert (result.suggested_package_id, result.suggested_topup_amount) == (None, Decimal(30000))


def test_coverage_days_setting_sizes_the_suggestion() -> None:
    result = forecast_usage(
        as_of=MONDAY,
        history_start=MONDAY - timedelta(days=56),
        daily_consumption=history(56, lambda i, d: 100),
        balance=Decimal(1000),
        packages=PACKAGES,
        parameters=ForecastParameters(coverage_days=14),
    )

    assert (result.suggested_package_id, result.suggested_topup_amount) == (1, Decimal(400))
