"""Errors the database layer raises for callers to turn into API answers or activity failures."""

from decimal import Decimal


class LedgerError(Exception):
    """A ledger operation was refused; nothing was written."""

    code = "ledger_error"


class InsufficientBalance(LedgerError):
    code = "insufficient_balance"

    def __init__(self, wallet_id: int, balance: Decimal, requested: Decimal) -> None:
        super().__init__(
            f"wallet {wallet_id} holds {balance} tokens, fewer than the {requested} asked for"
        )
        self.wallet_id = wallet_id
        self.balance = balance
        self.requested = requested


class IdempotencyKeyReused(LedgerError):
    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different movement")
        self.key = key


class WalletNotFound(LedgerError):
    code = "wallet_not_found"

    def __init__(self, wallet_id: int) -> None:
        super().__init__(f"wallet {wallet_id} does not exist")
        self.wallet_id = wallet_id


class InvalidAmount(LedgerError):
    code = "invalid_amount"


class LotNotExpired(LedgerError):
    """Only a lot past its expiry can be expired."""

    code = "lot_not_expired"

    def __init__(self, lot_id: int) -> None:
        super().__init__(f"lot {lot_id} has not expired")
        self.lot_id = lot_id
