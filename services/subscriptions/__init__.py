"""Subscriptions: create, read, and the commands a subscription's workflow carries out."""
