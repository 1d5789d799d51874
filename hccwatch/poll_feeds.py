"""Polling news feeds: one Task per watchlist feed over one shared, per-host rate-limited client.
The task's cursor keeps the feed's validators (ETag, Last-Modified) so an unchanged feed costs
one 304 and no parsing; items that match no topic are dropped."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime

from hccwatch.poll import Fetch, Progress, Tagger, Task
from hccwatch.pollers import client_for
from hccwatch.settings import Settings
from hccwatch.watchlist import Feed, Watchlist
from sources import feeds
from sources.http import HttpClient
from sources.records import Record
from store.db import utcnow


@dataclass
class FeedCursor:
    """A feed's stored state: HTTP validators, and the first-seen time of undated entries
    (so an entry without a date keeps the date it was first fetched, poll after poll)."""

    etag: str | None = None
    last_modified: str | None = None
    undated: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> FeedCursor:
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return cls()  # an unreadable cursor only costs one full fetch
        return cls(data.get("etag"), data.get("last_modified"), dict(data.get("undated") or {}))

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


def feed_tasks(settings: Settings, watchlist: Watchlist, stack: ExitStack,
               progress: Progress) -> list[Task]:
    """One Task per feed in the watchlist (source `feed:<name>`, query = the feed's name)."""
    if not watchlist.feeds:
        return []
    client = stack.enter_context(client_for(settings, settings.feed_rate))
    tagger = Tagger(watchlist)
    return [Task(f"feed:{feed.name}", feed.name, feed.url, feed_fetcher(client, feed, tagger, progress))
            for feed in watchlist.feeds]


def feed_fetcher(client: HttpClient, feed: Feed, tagger: Tagger,
                 progress: Progress) -> Callable[[str | None, datetime], Fetch]:
    def fetch(cursor: str | None, _run_started: datetime) -> Fetch:
        state = FeedCursor.load(cursor)
        response = feeds.fetch_feed(client, feed.url, etag=state.etag,
                                    last_modified=state.last_modified)
        if response.not_modified:
            return Fetch([], cursor=cursor)
        parsed = feeds.parse_feed(response.content, response.headers, feed.name, feed.lang,
                                  utcnow(), kind=feed.kind, base_url=response.url)
        kept = keep_matching(parsed.records, tagger)
        new_state = FeedCursor(response.headers.get("etag"), response.headers.get("last-modified"),
                               keep_first_dates(kept, state.undated))
        progress("page", source=f"feed:{feed.name}", label=feed.name, page=1,
                 records=len(kept), total=len(parsed.records))
        return Fetch(kept, cursor=new_state.dump(), skipped=parsed.skipped, tagged=True,
                     state_updates={"etag": new_state.etag,
                                    "last_modified": new_state.last_modified})
    return fetch


def keep_matching(records: Sequence[Record], tagger: Tagger) -> list[Record]:
    """The records that concern a watchlist topic, tagged (as every polled record is) with
    the terms that matched; the poll then does not tag them again."""
    return [record for record in records if tagger.tag(record, found_by=None).topics]


def keep_first_dates(records: Sequence[Record], undated: Mapping[str, str]) -> dict[str, str]:
    """Undated records take the time they were first fetched (remembered in the cursor);
    returns what to remember for the entries the feed still carries."""
    remembered = {}
    for record in records:
        if record.details.get("date_missing"):
            record.published = undated.get(record.key, record.published)
            remembered[record.key] = record.published
    return remembered
