"""`make fuzz`: schemathesis against the app's own OpenAPI schema, one credential per permission
set, over a real PostgreSQL and Temporal dev server: no 5xx, no answer outside the schema, and
nothing changed by a refused request."""
