"""The `poll` flow: one Prefect task per (source, query) from hccwatch.pollers.plan, run a few
at a time (each host still paced by its own rate limit), retried only for transient errors.
The work itself is hccwatch.poll's plain functions; this adds retries, concurrency and logs."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy.engine import Engine

from hccwatch.cli import App
from hccwatch.poll import PollReport, Tagger, Task, attempt_task, finish_poll, record_task_failure
from hccwatch.poll import start_poll as open_poll_run
from hccwatch.pollers import MAX_PARALLEL, plan
from hccwatch.settings import Settings
from sources.http import SourceError
from store.ingest import BatchResult

TASK_RETRIES = 2


class PollFailed(Exception):
    """Some source failed (the others were stored): the failed run's result, raised when the
    flow is called directly. `counts` holds the per-source counts, as a completed run's does."""

    def __init__(self, message: str, counts: dict[str, Any]):
        super().__init__(message)
        self.counts = counts


def log_progress(event: str, **details: Any) -> None:
    """Progress events from hccwatch.poll as log lines of the current flow or task run."""
    try:
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger("hccwatch.flows")
    if event == "task_done":
        logger.info("%s %s: %s", details["task"].source, details["task"].label,
                    details["result"].as_dict())
    elif event == "task_failed":
        logger.warning("%s", details["error"])
    elif event == "page":
        logger.info("%s %s: page %s, %s records", details["source"], details["label"],
                    details["page"], details["records"])


def transient(_task: Any, _run: TaskRun, state: State) -> bool:
    """Retry a task only when its error is one that trying again can cure (429, 5xx, timeouts)."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, SourceError) and error.retriable


def retry_delays(settings: Settings) -> list[float]:
    """Task-level retries come after the HTTP client's own backoff, so they wait longer."""
    return [settings.retry_base * 30, settings.retry_base * 120][:TASK_RETRIES]


@task(name="poll-query", task_run_name="{job.source}:{job.query}", cache_policy=NO_CACHE,
      retries=TASK_RETRIES, retry_condition_fn=transient)
def poll_query(engine: Engine, job: Task, tagger: Tagger, run_started: datetime) -> BatchResult:
    """Fetch and store one (source, query); raises SourceError so Prefect can retry it."""
    return attempt_task(engine, job, tagger=tagger, run_started=run_started, progress=log_progress)


def outcome_of(engine: Engine, job: Task, future: Any) -> BatchResult | SourceError:
    """The task's result, or its final error recorded on the SourceState (never raised)."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, BatchResult):
        return result
    error = result if isinstance(result, SourceError) else SourceError(f"internal error: {result!r}")
    return record_task_failure(engine, job, error, progress=log_progress)


def run_jobs(app: App, jobs: list[Task], report: PollReport) -> PollReport:
    """Submit every job at once; the task runner's pool keeps a few in flight."""
    runner = poll_query.with_options(retry_delay_seconds=retry_delays(app.settings))
    tagger = Tagger(app.watchlist)
    futures = [runner.submit(app.engine, job, tagger, report.started_at) for job in jobs]
    for job, future in zip(jobs, futures, strict=True):
        report.add(job, outcome_of(app.engine, job, future))
    return report


@flow(name="poll", task_runner=ThreadPoolTaskRunner(max_workers=MAX_PARALLEL),
      log_prints=True)
def poll(sources: list[str] | None = None, topics: list[str] | None = None) -> State:
    """Poll every (source, query) once and record a PollRun; Failed if any source failed."""
    app = App()
    with ExitStack() as stack:
        jobs = plan(app.settings, app.watchlist, stack, sources=sources, topics=topics,
                    progress=log_progress)
        report = finish_poll(app.engine, run_jobs(app, jobs, open_poll_run(app.engine)))
    counts = report.counts()
    if report.ok:
        return Completed(message=f"{len(jobs)} queries polled", data=counts)
    message = "; ".join(report.errors)
    return Failed(message=message, data=PollFailed(message, counts))
