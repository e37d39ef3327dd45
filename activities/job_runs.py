"""Recording each scheduled job run (start, counts, outcome) in job_runs."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.job_runs import finish_job_run, start_job_run
from workflows.job_types import FINISH_JOB_RUN, START_JOB_RUN, FinishJobRun, StartJobRun


class JobRunActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._session_maker = session_maker

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.start_run, self.finish_run]

    @activity.defn(name=START_JOB_RUN)
    async def start_run(self, start: StartJobRun) -> int:
        async with self._session_maker() as session, session.begin():
            return await start_job_run(
                session, job_name=start.job_name, workflow_id=start.workflow_id
            )

    @activity.defn(name=FINISH_JOB_RUN)
    async def finish_run(self, finish: FinishJobRun) -> None:
        counts = finish.counts
        async with self._session_maker() as session, session.begin():
            await finish_job_run(
                session,
                job_run_id=finish.job_run_id,
                status=finish.status,
                seen=counts.seen,
                changed=counts.changed,
                failed=counts.failed,
                details=counts.details,
                error=finish.error,
            )
