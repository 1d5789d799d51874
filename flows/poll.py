"""The `poll` flow: the poll engine's one driver (pipeline.engine.poll, through App.poll) with
Prefect as its task runner: one Prefect task per (source, query), a few at a time (each host
still paced by its own rate limit), retried only for transient errors, progress as run logs;
App.poll then sends the alerts the poll calls for (their summary goes to the run log)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from hccwatch.app import App
from hccwatch.settings import Settings
from pipeline.engine import MAX_PARALLEL, Outcome, Runner, Task, TaskContext, attempt_task, settle
from pipeline.events import ProgressEvent
from sources.http import SourceError
from store.ingest import BatchResult

TASK_RETRIES = 2


class PollFailed(Exception):
    """Some source failed (the others were stored): the failed run's result, raised when the
    flow is called directly. `counts` holds the per-source counts, as a completed run's does."""

    def __init__(self, message: str, counts: dict[str, Any]):
        super().__init__(message)
        self.counts = counts


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The current flow or task run's logger (outside a run, hccwatch.flows)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("hccwatch.flows")


def log_progress(event: ProgressEvent) -> None:
    """Progress events as log lines of the current flow or task run."""
    logger = run_logger()
    line = event.line()
    if line and event.stage in ("page", "task_done", "task_failed"):
        (logger.warning if event.stage == "task_failed" else logger.info)("%s", line)


def transient(_task: Any, _run: TaskRun, state: State) -> bool:
    """Retry a task only when its error is one that trying again can cure (429, 5xx, timeouts)."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, SourceError) and error.retriable


def retry_delays(settings: Settings) -> list[float]:
    """Task-level retries come after the HTTP client's own backoff, so they wait longer."""
    return [settings.retry_base * 30, settings.retry_base * 120][:TASK_RETRIES]


@task(name="poll-query", task_run_name="{job.source}:{job.query}", cache_policy=NO_CACHE,
      retries=TASK_RETRIES, retry_condition_fn=transient)
def poll_query(job: Task, context: TaskContext) -> BatchResult:
    """Fetch and store one (source, query); raises SourceError so Prefect can retry it."""
    return attempt_task(job, context)


def prefect_runner(settings: Settings) -> Runner:
    """Submit every task at once; the flow's task runner keeps a few in flight."""
    def run(jobs: Sequence[Task], context: TaskContext) -> Iterator[tuple[Task, Outcome]]:
        runner = poll_query.with_options(retry_delay_seconds=retry_delays(settings))
        futures = [runner.submit(job, context) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):
            yield job, settle(job, future.result(raise_on_failure=False), context)
    return run


@flow(name="poll", task_runner=ThreadPoolTaskRunner(max_workers=MAX_PARALLEL), log_prints=True)
def poll(sources: list[str] | None = None, topics: list[str] | None = None) -> State:
    """Poll every (source, query) once and record a PollRun; Failed if any source failed."""
    app = App()
    report = app.poll(sources=sources or (), topics=topics or (), progress=log_progress,
                      runner=prefect_runner(app.settings))
    if app.alerted is not None:
        run_logger().info("%s", app.alerted.line())  # masked: no URL or token in it
    counts = report.counts()
    if report.ok:
        return Completed(message=f"{report.tasks} queries polled", data=counts)
    message = "; ".join(report.errors)
    return Failed(message=message, data=PollFailed(message, counts))
