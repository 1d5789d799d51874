"""Which tasks a poll runs: one builder per source turns the watchlist into (source, query)
Tasks over a shared, rate-limited HTTP client; each source module decides what its cursor
means and fetches "since" it, the task gathers the pages into one Fetch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from datetime import datetime

from pipeline.config import Feed, PollSettings, Searches
from pipeline.engine import Fetch, Fetcher, Page, Task
from pipeline.events import Progress, ProgressEvent
from pipeline.tagging import Tagger
from sources import pubmed
from sources.http import HttpClient, RetryPolicy, make_client
from sources.records import Record, day_cursor
from store.db import open_engine, session_scope, utcnow
from store.errors import ConfigError
from store.queries import stored_ids

MODIFIED = "modified"  # the query name of PubMed's sweep of stored papers


def client_for(settings: PollSettings, rate: float, *, ncbi: bool = False) -> HttpClient:
    """A client for one source; only NCBI's (`ncbi`) names the contact's e-mail address."""
    return make_client(rate=rate, contact=settings.user_contact, with_email=ncbi,
                       timeout=settings.http_timeout,
                       retry=RetryPolicy(attempts=settings.retry_attempts, base=settings.retry_base))


def describe_query(query: dict[str, str]) -> str:
    return " ".join(f"{area}={value!r}" for area, value in query.items())


Pages = Callable[[str | None, datetime], Iterable[Page]]


def paged(pages: Pages) -> Fetcher:
    """A Fetcher over a source's pages "since" the stored cursor (stored page by page while
    the next are fetched); the next cursor is the day the run started."""
    def fetch(cursor: str | None, run_started: datetime) -> Fetch:
        return Fetch([], cursor=day_cursor(run_started), pages=pages(cursor, run_started))
    return fetch


def ctgov_tasks(settings: PollSettings, watchlist: Searches, stack: ExitStack,
                progress: Progress) -> list[Task]:
    from sources import clinicaltrials  # each source's parser is loaded when it is polled

    client = stack.enter_context(client_for(settings, settings.ctgov_rate))

    def pages(query: dict[str, str]) -> Pages:
        return lambda cursor, _run_started: clinicaltrials.fetch_since(
            client, settings.ctgov_url, query, cursor, lookback_days=settings.lookback_days)

    return [Task("ctgov", topic.id, describe_query(topic.ctgov),
                 paged(pages(topic.ctgov)), topic=topic.id)
            for topic in watchlist.topics if topic.ctgov]


def pubmed_tasks(settings: PollSettings, watchlist: Searches, stack: ExitStack,
                 progress: Progress) -> list[Task]:
    client = stack.enter_context(client_for(settings, settings.effective_ncbi_rate, ncbi=True))
    eutils = pubmed.Eutils(client, settings.eutils_url, email=settings.ncbi_email,
                           api_key=settings.ncbi_api_key.get_secret_value()
                           if settings.ncbi_api_key else None)

    def pages(term: str) -> Pages:
        return lambda cursor, run_started: pubmed.fetch_since(
            eutils, term, cursor, today=run_started.date(), backfill_days=settings.backfill_days,
            lookback_days=settings.lookback_days)

    def modified(cursor: str | None, run_started: datetime) -> Iterable[Page]:
        return pubmed.fetch_modified(eutils, stored_ids_of(settings.db, "pmid"), cursor,
                                     today=run_started.date(), lookback_days=settings.lookback_days)

    topics = [Task("pubmed", topic.id, topic.pubmed,
                   paged(pages(topic.pubmed)), topic=topic.id)
              for topic in watchlist.topics if topic.pubmed]
    # Stored papers PubMed changed since the last poll: retractions, errata, corrections.
    sweep = Task("pubmed", MODIFIED, "stored papers modified lately",
                 paged(modified))
    return topics + [sweep] if topics else []


def stored_ids_of(db: str, scheme: str) -> list[str]:
    """Every stored identifier of one scheme, read from the store the poll writes to."""
    engine = open_engine(db)
    try:
        with session_scope(engine, write=False) as session:
            return stored_ids(session, scheme)
    finally:
        engine.dispose()


def europepmc_tasks(settings: PollSettings, watchlist: Searches, stack: ExitStack,
                    progress: Progress) -> list[Task]:
    from sources import europepmc  # lxml.html: loaded when Europe PMC is polled

    client = stack.enter_context(client_for(settings, europepmc.RATE))

    def pages(query: str) -> Pages:
        return lambda cursor, run_started: europepmc.fetch_since(
            client, settings.europepmc_url, query, cursor, today=run_started.date(),
            backfill_days=settings.backfill_days, lookback_days=settings.lookback_days)

    return [Task("europepmc", topic.id, topic.europepmc,
                 paged(pages(topic.europepmc)), topic=topic.id)
            for topic in watchlist.topics if topic.europepmc]


def feed_tasks(settings: PollSettings, watchlist: Searches, stack: ExitStack,
               progress: Progress) -> list[Task]:
    """One Task per feed in the watchlist (source `feed:<name>`, query = the feed's name)."""
    if not watchlist.feeds:
        return []
    client = stack.enter_context(client_for(settings, settings.feed_rate))
    tagger = Tagger(watchlist)
    return [Task(f"feed:{feed.name}", feed.name, feed.url, feed_fetcher(client, feed, tagger, progress))
            for feed in watchlist.feeds]


def feed_fetcher(client: HttpClient, feed: Feed, tagger: Tagger, progress: Progress) -> Fetcher:
    """The feed's cursor keeps its validators (ETag, Last-Modified), so an unchanged feed costs
    one 304 and no parsing; items that match no topic are dropped."""
    from sources import feeds  # feedparser and BeautifulSoup: loaded when feeds are polled

    def fetch(cursor: str | None, _run_started: datetime) -> Fetch:
        state = feeds.FeedCursor.load(cursor)
        response = feeds.fetch_feed(client, feed.url, etag=state.etag,
                                    last_modified=state.last_modified)
        if response.not_modified:
            return Fetch([], cursor=cursor)
        parsed = feeds.parse_feed(response.content, response.headers, feed.name, feed.lang,
                                  utcnow(), kind=feed.kind, base_url=response.url)
        kept = keep_matching(parsed.records, tagger)
        new_state = feeds.FeedCursor(response.headers.get("etag"),
                                     response.headers.get("last-modified"),
                                     feeds.keep_first_dates(kept, state.undated))
        progress(ProgressEvent("page", source=f"feed:{feed.name}", label=feed.name, page=1,
                               records=len(kept), total=len(parsed.records)))
        return Fetch(kept, cursor=new_state.dump(), skipped=parsed.skipped, tagged=True,
                     state_updates={"etag": new_state.etag,
                                    "last_modified": new_state.last_modified})
    return fetch


def keep_matching(records: Sequence[Record], tagger: Tagger) -> list[Record]:
    """The records that concern a watchlist topic, tagged (as every polled record is) with
    the terms that matched; the poll then does not tag them again."""
    return [record for record in records if tagger.tag(record, found_by=None).topics]


Builder = Callable[[PollSettings, Searches, ExitStack, Progress], list[Task]]
BUILDERS: dict[str, Builder] = {"ctgov": ctgov_tasks, "pubmed": pubmed_tasks,
                                "europepmc": europepmc_tasks, "feeds": feed_tasks}


def plan(settings: PollSettings, watchlist: Searches, stack: ExitStack, *,
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
