"""Tag records with the watchlist topics whose terms they mention (or whose query found them)
and with the trial sites that lie in a watched place."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.config import Searches
from sources.matching import match_topics, watched_sites
from sources.records import Record


class Tagger:
    """Tags records with every topic whose terms they mention and with watched trial sites."""

    def __init__(self, watchlist: Searches):
        self.topics = {t.id: t.all_terms for t in watchlist.topics}
        self.places = watchlist.places

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
