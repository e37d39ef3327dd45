"""The wallet widget's alert state, from the spendable balance and the wallet's thresholds."""

from decimal import Decimal

from services.wallet.balances import ThresholdLevels, WalletView
from services.wallet.widget import BalanceState, balance_state


def wallet_with(balance: str) -> WalletView:
    amount = Decimal(balance)
    return WalletView(
        organization_id=1, wallet_id=1, current_balance=amount, held_balance=Decimal(0),
        available_balance=amount, spendable_balance=amount,
        expired_pending=Decimal(0), total_purchased=amount, total_consumed=Decimal(0),
        currency="USD", thresholds=ThresholdLevels(low=Decimal(100), critical=Decimal(50)),
        updated_at=None,
    )  # fmt: skip


def test_the_state_is_critical_at_the_critical_threshold_and_low_at_the_low_one():
    assert balance_state(wallet_with("50")) is BalanceState.CRITICAL
    assert balance_state(wallet_with("50.0001")) is BalanceState.LOW
    assert balance_state(wallet_with("100")) is BalanceState.LOW
    assert balance_state(wallet_with("100.0001")) is BalanceState.OK
