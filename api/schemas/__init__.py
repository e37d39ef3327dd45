"""Request and response bodies: snake_case JSON, amounts as exact decimal strings."""
