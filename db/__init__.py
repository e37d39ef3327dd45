"""Database layer: models, session factory, ledger operations and migrations."""
