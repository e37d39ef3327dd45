"""The application layer: every command and query the front doors (api/, web/) offer, per domain.

A service takes a database session, settings and the workflow client, checks the business rules,
writes through the repositories of db/ and starts, signals, updates or queries workflows. It knows
nothing of HTTP: it raises services.errors.ServiceError, which each front door shapes its own way.
"""
