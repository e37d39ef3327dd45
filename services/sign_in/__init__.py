"""Signing people in to the console: password hashes (argon2id), server-side sessions with idle
and absolute timeouts, and the throttle on repeated wrong passwords."""
