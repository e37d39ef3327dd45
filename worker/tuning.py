"""How many tasks a worker process runs at once, how many workflows it keeps in memory and how
long their sticky queue holds a task: the Worker's arguments, read from the settings."""

from datetime import timedelta
from typing import TypedDict

from tokenbill.settings import Settings


class WorkerTuning(TypedDict):
    """Keyword arguments of `temporalio.worker.Worker`."""

    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int
    max_cached_workflows: int
    sticky_queue_schedule_to_start_timeout: timedelta
    max_concurrent_workflow_task_polls: int
    max_concurrent_activity_task_polls: int
    graceful_shutdown_timeout: timedelta


def worker_tuning(settings: Settings) -> WorkerTuning:
    return WorkerTuning(
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_cached_workflows=settings.worker_max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=settings.worker_sticky_queue_timeout,
        max_concurrent_workflow_task_polls=settings.worker_max_concurrent_workflow_task_polls,
        max_concurrent_activity_task_polls=settings.worker_max_concurrent_activity_task_polls,
        graceful_shutdown_timeout=settings.worker_graceful_shutdown,
    )
