"""Webhooks: an organization's endpoints with their signing secrets, and the deliveries made to
them (the delivery log and test events)."""
