"""Poll tasks for the literature sources: one PubMed task and one Europe PMC task per topic
that has a query for it. The cursor is an entry-date watermark (YYYY-MM-DD): the first poll
backfills settings.backfill_days, later polls start from the stored day, and the watermark
never passes the day the run started and stays put when a batch failed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, timedelta

from hccwatch.poll import Fetch, Progress, Task
from hccwatch.pollers import client_for, gather_pages
from hccwatch.settings import Settings
from hccwatch.watchlist import Watchlist
from sources import europepmc, pubmed, pubmed_parse
from sources.http import ParseError

Fetcher = Callable[[str | None, datetime], Fetch]


def window_start(cursor: str | None, run_started: datetime, backfill_days: int) -> date:
    """The first entry day to ask for: the stored watermark, else the backfill window."""
    if cursor:
        try:
            return date.fromisoformat(cursor)
        except ValueError:
            pass  # a cursor from an older format: fall back to a full backfill
    return run_started.date() - timedelta(days=backfill_days)


def pubmed_tasks(settings: Settings, watchlist: Watchlist, stack: ExitStack,
                 progress: Progress) -> list[Task]:
    client = stack.enter_context(client_for(settings, settings.effective_ncbi_rate))
    eutils = pubmed.Eutils(client, settings.eutils_url, email=settings.ncbi_email,
                           api_key=settings.ncbi_api_key)

    def fetcher(term: str, label: str) -> Fetcher:
        def fetch(cursor: str | None, run_started: datetime) -> Fetch:
            start = window_start(cursor, run_started, settings.backfill_days)
            end = run_started.date()
            result = Fetch([], cursor=end.isoformat())
            seen: set[str] = set()
            for number, batch in enumerate(pubmed.fetch_batches(eutils, term, start, end), 1):
                _take_batch(batch, result, seen)
                progress("page", source="pubmed", label=label, page=number,
                         records=len(result.records), total=None)
            return result
        return fetch

    return [Task("pubmed", topic.id, topic.pubmed, fetcher(topic.pubmed, topic.id), topic=topic.id)
            for topic in watchlist.topics if topic.pubmed]


def _take_batch(batch: pubmed.Batch, result: Fetch, seen: set[str]) -> None:
    """Add one efetch batch's records (each PMID once); a batch that cannot be read is
    noted as failed (the poll then stores the rest and holds the watermark)."""
    try:
        parsed = pubmed_parse.parse_batch(batch.body)
    except ParseError as error:
        result.errors.append(f"batch of {batch.describe()} failed: {error}")
        return
    for record in parsed.records:
        if record.ids["pmid"] not in seen:
            seen.add(record.ids["pmid"])
            result.records.append(record)
    result.skipped.extend(parsed.skipped)
    result.skipped.extend(f"PMID {pmid} was withdrawn by PubMed (DeleteCitation)" for pmid in parsed.deleted)


def europepmc_tasks(settings: Settings, watchlist: Watchlist, stack: ExitStack,
                    progress: Progress) -> list[Task]:
    client = stack.enter_context(client_for(settings, europepmc.RATE))

    def fetcher(query: str, label: str) -> Fetcher:
        def fetch(cursor: str | None, run_started: datetime) -> Fetch:
            start = window_start(cursor, run_started, settings.backfill_days)
            params = europepmc.build_params(query, start=start, end=run_started.date())
            return gather_pages(europepmc.fetch_pages(client, settings.europepmc_url, params),
                                cursor=run_started.date().isoformat(),
                                source="europepmc", label=label, progress=progress)
        return fetch

    return [Task("europepmc", topic.id, topic.europepmc, fetcher(topic.europepmc, topic.id), topic=topic.id)
            for topic in watchlist.topics if topic.europepmc]

