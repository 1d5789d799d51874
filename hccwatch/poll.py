"""Poll every (source, query) task once: fetch, tag with topics and watched places, store each
batch with its cursor in one transaction, and keep going when one task fails."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from hccwatch.settings import Settings
from hccwatch.watchlist import Watchlist
from sources.http import SourceError, redact
from sources.matching import PlaceSpec, match_topics, watched_sites
from sources.records import Record
from store.db import session_scope, utcnow
from store.ingest import BatchResult, ingest_batch
from store.models import PollRun
from store.state import get_state, record_failure
from store.stories import assign_stories

log = logging.getLogger("hccwatch.poll")
Progress = Callable[..., None]


@dataclass
class Fetch:
    """What one task fetched: records, what was skipped, the cursor to store if it commits."""

    records: list[Record]
    cursor: str | None
    skipped: list[str] = field(default_factory=list)
    state_updates: dict[str, Any] = field(default_factory=dict)
    # Part of the task failed (e.g. one PubMed batch): what was read is stored, the cursor
    # stays, and the poll reports the failure.
    errors: list[str] = field(default_factory=list)
    # The fetcher already tagged the records (feeds do, to drop items about no topic).
    tagged: bool = False


@dataclass
class Task:
    """One (source, query) unit of polling; `fetch` gets the stored cursor and the run start."""

    source: str
    query: str
    label: str
    fetch: Callable[[str | None, datetime], Fetch]
    topic: str | None = None


@dataclass
class PollReport:
    run_id: int | None
    started_at: datetime
    results: dict[str, BatchResult] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, task: Task, outcome: BatchResult | SourceError) -> None:
        """Count one task's outcome under its source."""
        bucket = self.results.setdefault(task.source, BatchResult())
        problems = [str(outcome)] if isinstance(outcome, SourceError) else outcome.errors
        if not isinstance(outcome, SourceError):
            bucket.add(outcome)
        if problems:
            self.errors.extend(f"{task.source} {task.label}: {p}" for p in problems)
            self.failures[task.source] = self.failures.get(task.source, 0) + 1

    def counts(self) -> dict[str, dict[str, Any]]:
        return {source: {**result.as_dict(), "errors": self.failures.get(source, 0)}
                for source, result in self.results.items()}


class Tagger:
    """Tags records with every topic whose terms they mention and with watched trial sites."""

    def __init__(self, watchlist: Watchlist):
        self.topics = {t.id: t.all_terms for t in watchlist.topics}
        self.places = [PlaceSpec(p.name, p.match, p.country, p.label_zh) for p in watchlist.places]

    def tag(self, record: Record, *, found_by: str | None, query: str | None = None) -> Record:
        text = " ".join(filter(None, [record.title, record.title_alt, record.summary,
                                      " ".join(_detail_terms(record))]))
        for topic_id, terms in match_topics(text, self.topics).items():
            record.topics.setdefault(topic_id, []).extend(
                t for t in terms if t not in record.topics[topic_id])
        if found_by and found_by not in record.topics:
            record.topics[found_by] = [f"query: {query}"] if query else []
        if record.locations:
            record.watched_sites = watched_sites(record.locations, self.places)
        return record


def _detail_terms(record: Record) -> Iterable[str]:
    details = record.details
    yield from (c for c in details.get("conditions") or [] if isinstance(c, str))
    for item in details.get("interventions") or []:
        if isinstance(item, dict):
            yield item.get("name") or ""
            yield from item.get("other_names") or []
    yield from (k for k in details.get("keywords") or [] if isinstance(k, str))


def attempt_task(engine: Engine, task: Task, *, tagger: Tagger, run_started: datetime,
                 progress: Progress) -> BatchResult:
    """Fetch and store one task once; a SourceError is raised for the caller to retry or record."""
    with session_scope(engine, write=False) as session:
        cursor = get_state(session, source=task.source, query=task.query).cursor
    progress("task_started", task=task)
    fetched = task.fetch(cursor, run_started)
    for record in () if fetched.tagged else fetched.records:
        tagger.tag(record, found_by=task.topic, query=task.label if task.topic else None)
    with session_scope(engine) as session:
        result = ingest_batch(session, fetched.records, source=task.source, query=task.query,
                              seen_at=run_started, cursor=fetched.cursor,
                              error=redact("; ".join(fetched.errors)) if fetched.errors else None)
        state = get_state(session, source=task.source, query=task.query)
        for name, value in fetched.state_updates.items():
            setattr(state, name, value)
        session.add(state)
    result.skipped.extend(fetched.skipped)
    result.errors.extend(fetched.errors)
    progress("task_done", task=task, result=result)
    for error in fetched.errors:
        progress("task_failed", task=task, error=f"{task.source} {task.label}: {error}")
    return result


def record_task_failure(engine: Engine, task: Task, error: SourceError, *,
                        progress: Progress) -> SourceError:
    """Note a failed task on its SourceState (the cursor stays where it was)."""
    with session_scope(engine) as session:
        record_failure(session, source=task.source, query=task.query, at=utcnow(),
                       error=redact(str(error)))
    progress("task_failed", task=task, error=f"{task.source} {task.label}: {error}")
    return error


def run_task(engine: Engine, task: Task, *, tagger: Tagger, run_started: datetime,
             progress: Progress) -> BatchResult | SourceError:
    """Fetch and store one task; a failure is recorded on its SourceState, never raised."""
    try:
        return attempt_task(engine, task, tagger=tagger, run_started=run_started,
                            progress=progress)
    except SourceError as error:
        return record_task_failure(engine, task, error, progress=progress)


def start_poll(engine: Engine) -> PollReport:
    """Open a PollRun row (committed, so a killed poll still shows that it started)."""
    started = utcnow()
    with session_scope(engine) as session:
        run = PollRun(started_at=started)
        session.add(run)
        session.flush()
        return PollReport(run.id, started)


def finish_poll(engine: Engine, report: PollReport) -> PollReport:
    """Gather this poll's news into stories, then close the PollRun with its per-source counts
    and errors."""
    with session_scope(engine) as session:
        assign_stories(session)
    with session_scope(engine) as session:
        run = session.get(PollRun, report.run_id)
        run.finished_at = utcnow()
        run.counts = report.counts()
        run.errors = report.errors
        run.ok = report.ok
        session.add(run)
    return report


def poll(engine: Engine, settings: Settings, watchlist: Watchlist, tasks: Sequence[Task], *,
         progress: Progress | None = None) -> PollReport:
    """Run every task once, recording a PollRun with per-source counts and errors."""
    from hccwatch.pollers import run_tasks

    progress = progress or (lambda *_a, **_k: None)
    report = start_poll(engine)
    progress("poll_started", total=len(tasks))
    for task, outcome in run_tasks(engine, tasks, tagger=Tagger(watchlist),
                                   run_started=report.started_at, progress=progress,
                                   settings=settings):
        report.add(task, outcome)
    finish_poll(engine, report)
    progress("poll_done", report=report)
    return report
