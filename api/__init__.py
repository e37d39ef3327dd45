"""The HTTP API: reads PostgreSQL; starts, signals and queries workflows."""
