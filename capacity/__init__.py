"""Capacity on paper: billable Temporal Cloud actions counted from workflow histories, and a
model of what a population of organisations needs (API processes, workers, actions, database
nodes), fed by the bench's measurements (docs/scaling.md)."""
