"""Usage forecasting: pure arithmetic over a wallet's daily consumption, no database, no clock.

The model, in the order it is fitted:
1. Weekday pattern (at least three weeks of history): each weekday's mean over the whole weeks
   seen, as a factor of the overall mean; kept only when some weekday is 15% or more off.
2. Level and trend, on the consumption with the weekday pattern divided out: an exponentially
   weighted mean (half-life in days) or, with two weeks of history, an exponentially weighted
   least-squares line, whose slope is kept only when it is clearly more than noise (beyond two
   standard errors and worth at least 1% of the level over the history).
3. Projection, day by day from today: level + slope x days ahead (the slope is not extended past
   the length of the history seen, and never below zero), times the day's weekday factor.
4. Confidence in [0, 1]: how much history there is (full at four weeks) divided by one plus the
   coefficient of variation of what the model did not explain.

Amounts stay Decimal; each projected day is rounded to the ledger's 0.0001 tokens.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

TOKEN_QUANTUM = Decimal("0.0001")
FACTOR_QUANTUM = Decimal("0.0001")
ZERO = Decimal(0)
ONE = Decimal(1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Method = Literal["no_history", "ewma", "ewma_trend", "ewma_weekday", "ewma_trend_weekday"]


@dataclass(frozen=True)
class ForecastParameters:
    window_days: int = 56
    half_life_days: int = 7
    coverage_days: int = 30
    min_trend_days: int = 14
    min_weekday_days: int = 21
    weekday_significance: Decimal = Decimal("0.15")
    full_confidence_days: int = 28
    max_horizon_days: int = 730


@dataclass(frozen=True)
class PackageOption:
    id: int
    token_quantity: Decimal


@dataclass(frozen=True)
class UsageForecast:
    as_of: date
    history_days: int
    method: Method
    average_daily_consumption: Decimal
    """Today's expected consumption per day, with any weekday pattern averaged out."""
    trend_per_day: Decimal
    weekday_factors: tuple[Decimal, ...] | None
    """Monday to Sunday, averaging one; None when there is no clear weekday pattern."""
    projected_consumption: Decimal
    """Expected consumption over the coverage days, starting today."""
    coverage_days: int
    depletion_date: date | None
    """The day the balance is projected to run out; None when not within the horizon."""
    days_remaining: int | None
    """Whole days of expected consumption the balance covers, today included."""
    suggested_package_id: int | None
    suggested_topup_amount: Decimal | None
    confidence: Decimal


@dataclass(frozen=True)
class _Fit:
    level: Decimal
    slope: Decimal
    factors: tuple[Decimal, ...] | None
    history_days: int

    def expected(self, days_after_yesterday: int, weekday: int) -> Decimal:
        """The model's consumption for a day (1 = today), rounded to the token quantum."""
        steps = min(days_after_yesterday, self.history_days)
        base = max(ZERO, self.level + self.slope * steps)
        factor = self.factors[weekday] if self.factors is not None else ONE
        return (base * factor).quantize(TOKEN_QUANTUM)


def forecast_usage(
    *,
    as_of: date,
    history_start: date,
    daily_consumption: Mapping[date, Decimal],
    balance: Decimal,
    packages: Sequence[PackageOption],
    parameters: ForecastParameters | None = None,
) -> UsageForecast:
    """Forecast from the whole days before `as_of` (today is still running) since the wallet's
    history began, at most `window_days` back."""
    p = parameters or ForecastParameters()
    first = max(history_start, as_of - timedelta(days=p.window_days))
    days = [first + timedelta(days=i) for i in range((as_of - first).days)]
    values = [daily_consumption.get(day, ZERO) for day in days]
    if not days:
        return _without_history(as_of, balance, p)

    factors = _weekday_factors(days, values, p)
    fit = _fit_level_and_trend(days, values, factors, as_of, p)
    projection = [
        fit.expected(k + 1, (as_of + timedelta(days=k)).weekday())
        for k in range(p.max_horizon_days)
    ]
    projected = sum(projection[: p.coverage_days], ZERO)
    depletion_date, days_remaining = _depletion(as_of, balance, projection)
    package_id, topup = _suggestion(projected - balance, packages)
    method: Method = "ewma"
    if fit.slope != ZERO:
        method = "ewma_trend"
    if factors is not None:
        method = "ewma_trend_weekday" if fit.slope != ZERO else "ewma_weekday"
    return UsageForecast(
        as_of=as_of,
        history_days=len(days),
        method=method,
        average_daily_consumption=fit.level.quantize(TOKEN_QUANTUM),
        trend_per_day=fit.slope.quantize(TOKEN_QUANTUM),
        weekday_factors=factors,
        projected_consumption=projected,
        coverage_days=p.coverage_days,
        depletion_date=depletion_date,
        days_remaining=days_remaining,
        suggested_package_id=package_id,
        suggested_topup_amount=topup,
        confidence=_confidence(days, values, fit, as_of, p),
    )


def _without_history(as_of: date, balance: Decimal, p: ForecastParameters) -> UsageForecast:
    empty = balance <= ZERO
    return UsageForecast(
        as_of=as_of,
        history_days=0,
        method="no_history",
        average_daily_consumption=ZERO,
        trend_per_day=ZERO,
        weekday_factors=None,
        projected_consumption=ZERO,
        coverage_days=p.coverage_days,
        depletion_date=as_of if empty else None,
        days_remaining=0 if empty else None,
        suggested_package_id=None,
        suggested_topup_amount=None,
        confidence=ZERO,
    )


def _weekday_factors(
    days: Sequence[date], values: Sequence[Decimal], p: ForecastParameters
) -> tuple[Decimal, ...] | None:
    """Each weekday's mean over the most recent whole weeks, relative to their overall mean."""
    if len(days) < p.min_weekday_days:
        return None
    whole = len(days) // 7 * 7
    sums = [ZERO] * 7
    for day, value in zip(days[-whole:], values[-whole:], strict=True):
        sums[day.weekday()] += value
    overall = sum(sums, ZERO) / 7
    if overall == ZERO:
        return None
    factors = tuple((s / overall).quantize(FACTOR_QUANTUM) for s in sums)
    if max(abs(f - ONE) for f in factors) < p.weekday_significance:
        return None
    return factors


def _weights(days: Sequence[date], as_of: date, p: ForecastParameters) -> list[Decimal]:
    decay = Decimal("0.5") ** (ONE / Decimal(p.half_life_days))
    return [decay ** (as_of - day).days for day in days]


def _fit_level_and_trend(
    days: Sequence[date],
    values: Sequence[Decimal],
    factors: tuple[Decimal, ...] | None,
    as_of: date,
    p: ForecastParameters,
) -> _Fit:
    weights = _weights(days, as_of, p)
    points: list[tuple[Decimal, Decimal, Decimal]] = []  # (weight, t, deseasonalised value)
    for day, value, weight in zip(days, values, weights, strict=True):
        factor = factors[day.weekday()] if factors is not None else ONE
        if factor > ZERO:
            points.append((weight, Decimal((day - as_of).days + 1), value / factor))
    total = sum((w for w, _, _ in points), ZERO)
    mean_t = sum((w * t for w, t, _ in points), ZERO) / total
    mean_y = sum((w * y for w, _, y in points), ZERO) / total
    level, slope = mean_y, ZERO
    if len(days) >= p.min_trend_days and len(points) > 2:
        sxx = sum((w * (t - mean_t) ** 2 for w, t, _ in points), ZERO)
        sxy = sum((w * (t - mean_t) * (y - mean_y) for w, t, y in points), ZERO)
        candidate = sxy / sxx
        intercept = mean_y - candidate * mean_t  # the fitted line at t = 0, yesterday
        n = Decimal(len(points))
        residual = (
            sum((w * (y - intercept - candidate * t) ** 2 for w, t, y in points), ZERO)
            / total
            * n
            / (n - 2)
        )
        standard_error = (residual / (n * sxx / total)).sqrt()
        clear = abs(candidate) > 2 * standard_error
        material = abs(candidate) * len(days) >= abs(intercept) / 100
        if clear and material and candidate != ZERO:
            level, slope = max(ZERO, intercept), candidate
    return _Fit(level, slope, factors, len(days))


def _depletion(
    as_of: date, balance: Decimal, projection: Sequence[Decimal]
) -> tuple[date | None, int | None]:
    if balance <= ZERO:
        return as_of, 0
    used = ZERO
    for k, expected in enumerate(projection):
        if used + expected >= balance:
            covered = k + (balance - used) / expected
            return as_of + timedelta(days=k), int(covered.to_integral_value(ROUND_FLOOR))
        used += expected
    return None, None


def _suggestion(
    shortfall: Decimal, packages: Sequence[PackageOption]
) -> tuple[int | None, Decimal | None]:
    """The smallest package covering the shortfall, and the shortfall in whole tokens."""
    if shortfall <= ZERO:
        return None, None
    covering = [pkg for pkg in packages if pkg.token_quantity >= shortfall]
    best = min(covering, key=lambda pkg: (pkg.token_quantity, pkg.id), default=None)
    return (None if best is None else best.id), shortfall.to_integral_value(ROUND_CEILING)


def _confidence(
    days: Sequence[date],
    values: Sequence[Decimal],
    fit: _Fit,
    as_of: date,
    p: ForecastParameters,
) -> Decimal:
    history = min(ONE, Decimal(len(days)) / Decimal(p.full_confidence_days))
    weights = _weights(days, as_of, p)
    total = sum(weights, ZERO)
    mean = sum((w * v for w, v in zip(weights, values, strict=True)), ZERO) / total
    if mean == ZERO:
        return history.quantize(FACTOR_QUANTUM)
    squared = ZERO
    for day, value, weight in zip(days, values, weights, strict=True):
        fitted = fit.expected((day - as_of).days + 1, day.weekday())
        squared += weight * (value - fitted) ** 2
    variation = (squared / total).sqrt() / mean
    return (history / (ONE + variation)).quantize(FACTOR_QUANTUM)
