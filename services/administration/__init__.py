"""Administration: organizations (with deactivation), users and their permissions, service API
keys, the token package catalog, the operations' job and reconciliation runs, and the audit log.

Commands work in the caller's transaction and audit themselves through services.audit; the
caller commits (an idempotent request stores its answer in the same transaction first).
"""
