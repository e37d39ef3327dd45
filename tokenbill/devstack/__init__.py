"""Local servers for development and tests: PostgreSQL and Temporal from their wheels."""
