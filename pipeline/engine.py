"""Run a poll: every (source, query) Task once, each batch stored with its cursor in one
transaction, a failing task recorded on its SourceState while the others carry on. One driver,
`poll`, serves the CLI (tasks on a few threads) and the Prefect flow (which passes its own
task runner in)."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from pipeline.config import Searches
from pipeline.events import Progress, ProgressEvent, Stage, ignore, source_failure
from pipeline.judge import Fresh, Judges, judge_findings, rejudge_if_changed
from pipeline.tagging import Tagger
from sources.http import SourceError, redact
from sources.records import ParsedPage, Record
from store.db import StoreError, session_scope, utcnow
from store.ingest import BatchResult, ingest_batch, ingest_records
from store.models import PollRun
from store.state import commit_batch, get_state, in_baseline, record_failure, set_warnings
from store.stories import assign_stories

MAX_PARALLEL = 4
log = logging.getLogger("hccwatch.poll")
PREFETCH = 2  # pages fetched ahead of the one being stored: bounds a task's memory
T = TypeVar("T")
# A page as a source yields it, or a callable that reads one (PubMed hands over the raw
# efetch answer, so the parse runs on the storing thread and never delays the next request).
Page = ParsedPage | Callable[[], ParsedPage]


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
    # What the source said it did not search for; replaces the query's earlier warnings.
    warnings: list[str] = field(default_factory=list)
    # Instead of `records`: pages fetched one after another on a thread of their own while
    # the ones before are read and stored, each page in its own transaction; the cursor (and
    # the success mark) is stored after the last, so a poll killed midway asks again.
    pages: Iterable[Page] | None = None


Fetcher = Callable[[str | None, datetime], Fetch]


@dataclass
class Task:
    """One (source, query) unit of polling; `fetch` gets the stored cursor and the run start."""

    source: str
    query: str
    label: str
    fetch: Fetcher
    topic: str | None = None

    def event(self, stage: Stage, **data: Any) -> ProgressEvent:
        return ProgressEvent(stage, source=self.source, label=self.query, **data)

    def failure(self, error: object) -> str:
        return f"{self.source} {self.label}: {error}"


@dataclass
class PollReport:
    run_id: int | None
    started_at: datetime
    tasks: int = 0
    results: dict[str, BatchResult] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Per failed source, what went wrong in plain words ("ClinicalTrials.gov answered 503").
    reasons: dict[str, str] = field(default_factory=dict)

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
            self.errors.extend(task.failure(p) for p in problems)
            self.failures[task.source] = self.failures.get(task.source, 0) + 1
            self.reasons.setdefault(task.source, source_failure(task.source, reason_of(outcome)))

    def counts(self) -> dict[str, dict[str, Any]]:
        return {source: {**result.as_dict(), "errors": self.failures.get(source, 0)}
                for source, result in self.results.items()}


@dataclass(frozen=True)
class TaskContext:
    """What every task of one poll shares."""

    engine: Engine
    tagger: Tagger
    run_started: datetime
    progress: Progress = ignore
    judges: Judges | None = None  # what each stored batch is judged with (relevance, eligibility)


Outcome = BatchResult | SourceError
# A runner runs the poll's tasks (each through attempt_task/run_task) and yields each outcome.
Runner = Callable[[Sequence[Task], TaskContext], Iterable[tuple[Task, Outcome]]]


def attempt_task(task: Task, context: TaskContext) -> BatchResult:
    """Fetch and store one task once; a SourceError is raised for the caller to retry or record."""
    with session_scope(context.engine, write=False) as session:
        state = get_state(session, source=task.source, query=task.query)
        cursor, baseline = state.cursor, in_baseline(state)
    context.progress(task.event("task_started"))
    fetched = task.fetch(cursor, context.run_started)
    if fetched.pages is None:
        result = _store_whole(task, fetched, context)
    else:
        result = _store_pages(task, fetched, baseline, context)
    result.skipped.extend(fetched.skipped)
    result.errors.extend(fetched.errors)
    context.progress(task.event("task_done", result=result))
    for error in fetched.errors:
        context.progress(task.event("task_failed", error=task.failure(error)))
    return result


def _tag(task: Task, records: Iterable[Record], context: TaskContext) -> None:
    for record in records:
        context.tagger.tag(record, found_by=task.topic, query=task.label if task.topic else None)


def _error(fetched: Fetch) -> str | None:
    return redact("; ".join(fetched.errors)) if fetched.errors else None


def _store_whole(task: Task, fetched: Fetch, context: TaskContext) -> BatchResult:
    """Store what the task fetched together with its cursor, in one transaction."""
    _tag(task, () if fetched.tagged else fetched.records, context)
    fresh = Fresh()
    with session_scope(context.engine) as session:
        result = ingest_batch(session, fetched.records, source=task.source, query=task.query,
                              seen_at=context.run_started, cursor=fetched.cursor,
                              error=_error(fetched), inserted=fresh)
        _judge(session, result.touched, context, fresh)
        _finish(session, task, fetched, context)
    return result


def _store_pages(task: Task, fetched: Fetch, baseline: bool, context: TaskContext) -> BatchResult:
    """Read and store each page while the next ones are fetched (at most PREFETCH ahead), each
    record once; then the cursor. A page that could not be read is a failure of the task."""
    result, known = BatchResult(), set()
    for number, item in enumerate(prefetched(fetched.pages or (), PREFETCH), 1):
        page = item() if callable(item) else item
        records = [r for r in page.records if r.key not in known]
        known.update(r.key for r in records)
        _tag(task, records, context)
        with session_scope(context.engine) as session:
            before, fresh = set(result.touched), Fresh()
            ingest_records(session, records, seen_at=context.run_started, baseline=baseline,
                           result=result, inserted=fresh)
            _judge(session, result.touched - before, context, fresh)
        fetched.skipped.extend(page.skipped)
        fetched.errors.extend([page.error] if page.error else [])
        fetched.warnings.extend(w for w in page.warnings if w not in fetched.warnings)
        context.progress(task.event("page", page=number, records=len(known), total=page.total))
    with session_scope(context.engine) as session:
        state = get_state(session, source=task.source, query=task.query)
        commit_batch(state, at=context.run_started, count=result.fetched, cursor=fetched.cursor,
                     error=_error(fetched))
        session.add(state)
        _finish(session, task, fetched, context)
    return result


def _judge(session: Any, finding_ids: set[int], context: TaskContext, fresh: Fresh) -> None:
    """Judge the findings a batch touched, in its transaction (relevance, eligibility); those
    it inserted from a Record are judged from that Record."""
    if context.judges is not None:
        judge_findings(session, finding_ids, context.judges, now=context.run_started, fresh=fresh)


def _finish(session: Any, task: Task, fetched: Fetch, context: TaskContext) -> None:
    state = get_state(session, source=task.source, query=task.query)
    for name, value in fetched.state_updates.items():
        setattr(state, name, value)
    session.add(state)
    set_warnings(session, source=task.source, query=task.query, warnings=fetched.warnings,
                 at=context.run_started)


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """`items`, produced on a thread of their own at most `depth` ahead of the consumer. An
    exception there is raised here, in its place; a consumer that stops stops the producer."""
    slots: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((True, item)):
                    return
        except BaseException as error:  # noqa: BLE001 (handed to the consumer, raised there)
            hand_over((False, error))
            return
        hand_over((False, None))

    producer = threading.Thread(target=produce, name="poll-fetch", daemon=True)
    producer.start()
    try:
        while True:
            more, value = slots.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        producer.join()


def record_task_failure(task: Task, error: SourceError, context: TaskContext) -> SourceError:
    """Note a failed task on its SourceState (the cursor stays where it was)."""
    with session_scope(context.engine) as session:
        record_failure(session, source=task.source, query=task.query, at=utcnow(),
                       error=redact(str(error)))
    context.progress(task.event("task_failed", error=task.failure(error),
                                reason=source_failure(task.source, error.reason)))
    return error


def reason_of(outcome: BatchResult | SourceError) -> str:
    """Plain words for a failed outcome: the error's, or that part of the task failed."""
    return outcome.reason if isinstance(outcome, SourceError) else "failed in part"


def settle(task: Task, result: object, context: TaskContext) -> Outcome:
    """A task's final result from any runner: its BatchResult, or its error (anything else is
    an internal error) recorded on its SourceState, never raised."""
    if isinstance(result, BatchResult):
        return result
    error = result if isinstance(result, SourceError) else SourceError(
        f"internal error: {type(result).__name__}: {result}")
    return record_task_failure(task, error, context)


def run_task(task: Task, context: TaskContext) -> Outcome:
    """Fetch and store one task; a failure is recorded on its SourceState, never raised. An
    unusable store (StoreError) is not one task's failure: it stops the poll."""
    try:
        return attempt_task(task, context)
    except SourceError as error:
        return record_task_failure(task, error, context)
    except StoreError:
        raise
    except Exception as error:  # noqa: BLE001  a bug meeting one answer fails that task alone
        log.debug("task %s %s failed", task.source, task.label, exc_info=True)
        return settle(task, error, context)


def threads(feed_concurrency: int = 8, parallel: int = MAX_PARALLEL) -> Runner:
    """Run tasks a few at a time (per-host limits still pace each host), yielding as they end.
    Feeds (many hosts, one small request each) have their own bound, `feed_concurrency`."""
    def run(tasks: Sequence[Task], context: TaskContext) -> Iterator[tuple[Task, Outcome]]:
        if len(tasks) <= 1:
            yield from ((task, run_task(task, context)) for task in tasks)
            return
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="poll") as pool, \
                ThreadPoolExecutor(max_workers=feed_concurrency,
                                   thread_name_prefix="poll-feed") as feed_pool:
            futures = {(feed_pool if task.source.startswith("feed:") else pool).submit(
                run_task, task, context): task for task in tasks}
            for future in as_completed(futures):
                yield futures[future], future.result()
    return run


def start_poll(engine: Engine, judges: Judges | None = None, *, record_run: bool = True) -> PollReport:
    """Judge every stored finding again if the watchlist's judgement inputs changed (or a week
    passed), then open a PollRun row (committed, so a killed poll still shows that it started);
    without `record_run` (an ad-hoc search) no row, so the watchlist's last poll stays what it was."""
    started = utcnow()
    if judges is not None:
        with session_scope(engine) as session:
            rejudge_if_changed(session, judges, now=started)
    if not record_run:
        return PollReport(None, started)
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
    if report.run_id is None:
        return report
    with session_scope(engine) as session:
        run = session.get(PollRun, report.run_id)
        run.finished_at = utcnow()
        run.counts = report.counts()
        run.errors = report.errors
        run.ok = report.ok
        session.add(run)
    return report


def poll(engine: Engine, watchlist: Searches, tasks: Sequence[Task], *,
         runner: Runner | None = None, progress: Progress = ignore,
         record_run: bool = True) -> PollReport:
    """Run every task once (on `runner`, a few threads by default), recording a PollRun with
    per-source counts and errors. If the poll stops on an error (a full disk), the PollRun is
    still closed with that error, when the store lets it be written."""
    judges = watchlist.judges()
    report = start_poll(engine, judges, record_run=record_run)
    report.tasks = len(tasks)
    progress(ProgressEvent("poll_started", tasks=len(tasks)))
    context = TaskContext(engine, Tagger(watchlist), report.started_at, progress, judges)
    try:
        for task, outcome in (runner or threads())(tasks, context):
            report.add(task, outcome)
    except Exception as error:
        report.errors.append(f"the poll stopped: {error}")
        with contextlib.suppress(StoreError):
            finish_poll(engine, report)
        raise
    finish_poll(engine, report)
    progress(ProgressEvent("poll_done"))
    return report
