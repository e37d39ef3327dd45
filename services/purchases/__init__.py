"""One-time purchases: record one and start its workflow, read them back, wait for one."""
