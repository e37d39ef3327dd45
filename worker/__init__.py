"""The worker process: activities built with their dependencies, workflows, schedules."""
