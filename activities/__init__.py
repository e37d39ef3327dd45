"""Activities: every side effect (ledger writes, payment gateway calls, invoices)."""
