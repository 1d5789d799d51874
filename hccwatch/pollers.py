"""Which tasks a poll runs: one builder per source turns the watchlist into (source, query)
Tasks over a shared, rate-limited HTTP client; `run_tasks` runs them a few at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from datetime import datetime

from sqlalchemy.engine import Engine

from hccwatch.poll import Fetch, Progress, Tagger, Task, run_task
from hccwatch.settings import ConfigError, Settings
from hccwatch.watchlist import Watchlist
from sources import clinicaltrials
from sources.http import HttpClient, RetryPolicy, SourceError, make_client
from sources.records import ParsedPage
from store.ingest import BatchResult

MAX_PARALLEL = 4


def client_for(settings: Settings, rate: float) -> HttpClient:
    return make_client(rate=rate, contact=settings.user_contact, timeout=settings.http_timeout,
                       retry=RetryPolicy(attempts=settings.retry_attempts, base=settings.retry_base))


def describe_query(query: dict[str, str]) -> str:
    return " ".join(f"{area}={value!r}" for area, value in query.items())


def gather_pages(pages: Iterable[ParsedPage], *, cursor: str, source: str, label: str,
                 progress: Progress) -> Fetch:
    """Page after page into one Fetch (each record once), showing progress per page."""
    result = Fetch([], cursor=cursor)
    known: set[str] = set()
    for number, page in enumerate(pages, 1):
        result.records.extend(r for r in page.records if r.key not in known)
        known.update(r.key for r in page.records)
        result.skipped.extend(page.skipped)
        progress("page", source=source, label=label, page=number,
                 records=len(result.records), total=page.total)
    return result


def ctgov_tasks(settings: Settings, watchlist: Watchlist, stack: ExitStack,
                progress: Progress) -> list[Task]:
    client = stack.enter_context(client_for(settings, settings.ctgov_rate))

    def fetcher(query: dict[str, str], label: str) -> Callable[[str | None, datetime], Fetch]:
        def fetch(cursor: str | None, run_started: datetime) -> Fetch:
            params = clinicaltrials.build_params(query, since=cursor)
            return gather_pages(clinicaltrials.fetch_pages(client, settings.ctgov_url, params),
                                cursor=run_started.date().isoformat(),
                                source="ctgov", label=label, progress=progress)
        return fetch

    return [Task("ctgov", topic.id, describe_query(topic.ctgov),
                 fetcher(topic.ctgov, topic.id), topic=topic.id)
            for topic in watchlist.topics if topic.ctgov]


Builder = Callable[[Settings, Watchlist, ExitStack, Progress], list[Task]]


def _lazy(module: str, name: str) -> Builder:
    """A builder that lives in another module, imported when a poll first needs it."""
    def build(*args: object) -> list[Task]:
        from importlib import import_module

        return getattr(import_module(module), name)(*args)
    return build


BUILDERS: dict[str, Builder] = {
    "ctgov": ctgov_tasks,
    "pubmed": _lazy("hccwatch.poll_literature", "pubmed_tasks"),
    "europepmc": _lazy("hccwatch.poll_literature", "europepmc_tasks"),
    "feeds": _lazy("hccwatch.poll_feeds", "feed_tasks"),
}


def plan(settings: Settings, watchlist: Watchlist, stack: ExitStack, *,
         sources: Sequence[str] | None = None, topics: Sequence[str] | None = None,
         progress: Progress) -> list[Task]:
    """The tasks for the chosen sources and topics (all by default)."""
    for source in sources or ():
        if source not in BUILDERS:
            raise ConfigError(f"--source: unknown source {source!r} (known: {', '.join(BUILDERS)})")
    for topic in topics or ():
        watchlist.topic(topic)
    tasks = []
    for name, build in BUILDERS.items():
        if sources and name not in sources:
            continue
        tasks.extend(t for t in build(settings, watchlist, stack, progress)
                     if not topics or t.topic in topics or (t.topic is None and not sources))
    return tasks


def run_tasks(engine: Engine, tasks: Sequence[Task], *, tagger: Tagger, run_started: datetime,
              progress: Progress, settings: Settings) -> Iterator[tuple[Task, BatchResult | SourceError]]:
    """Run tasks a few at a time (per-host limits still pace each host); yield as they end.
    Feeds (many hosts, one small request each) have their own bound, HCCWATCH_FEED_CONCURRENCY."""
    if len(tasks) <= 1:
        for task in tasks:
            yield task, run_task(engine, task, tagger=tagger, run_started=run_started,
                                 progress=progress)
        return
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="poll") as pool, \
            ThreadPoolExecutor(max_workers=settings.feed_concurrency,
                               thread_name_prefix="poll-feed") as feed_pool:
        futures = {(feed_pool if task.source.startswith("feed:") else pool).submit(
            run_task, engine, task, tagger=tagger, run_started=run_started,
            progress=progress): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
