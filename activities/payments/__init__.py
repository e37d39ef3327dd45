"""The payment gateway interface and its implementations."""
