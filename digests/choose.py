"""Which findings and changes one recipient's digest carries, and which of them it shows.

Content is the ledger's, not a calendar window's: every finding and significant change up to
the end of the period that no digest sent to the recipient carried yet. A finding a (source,
query) baseline found is announced as new only when its own date is recent; of the rest, only
trials open in a watched place and evidence of the last 90 days may be shown. A recipient's
first digest is a "starting point": those trials first, then the best recent evidence per
topic. Every section is capped; what is left out is counted per topic.
Light rows only: the full cards are built later, for what is shown."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from assess.relevance import RelevanceContext, own_date, ranked_topics
from digests.labels import SIGNIFICANCE
from store.models import Change, Digest, DigestEntry, Finding, TopicMatch

SECTION_OF = {"trial": "trials", "article": "papers", "preprint": "papers", "news": "news"}
SECTION_IDS = ("trials", "papers", "news")
STARTING_POINT_DAYS = 90  # a starting point shows the best evidence this recent, per topic
OPEN_STATUSES = {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION"}
# Changes on a trial in a watched place (or one the patient may fit) that are always shown.
ALWAYS_SHOWN = {"watched_site", "recruiting", "results", "stopped", "retraction", "may_fit"}
_DETAIL_DATES = ("first_posted", "start_date", "entrez_date", "epub_date", "first_index_date")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")


@dataclass(frozen=True)
class Limits:
    """The watchlist's `[digest]` settings (DESIGN.md), with their defaults."""

    top_items: int = 7
    papers: int = 10
    news: int = 8
    trial_updates: int = 10
    new_within_days: int = 30

    def cap(self, section: str) -> int:
        return {"trials": self.trial_updates, "papers": self.papers, "news": self.news}[section]


@dataclass
class Item:
    """One finding the digest may carry: new (not carried yet), changed, or both."""

    finding_id: int
    kind: str
    baseline: bool
    first_seen: datetime
    own_date: str | None
    evidence: str | None
    status: str | None
    watched: bool
    story_key: str | None
    new: bool = False  # not carried to the recipient yet
    announced: bool = False  # new, and not merely already known when watching began
    fresh: bool = False  # its own date is recent (within the new_within_days setting)
    change_ids: list[int] = field(default_factory=list)
    significance: set[str] = field(default_factory=set)
    topics: list[str] = field(default_factory=list)
    topic: str = "other"
    relevance: float | None = None  # Finding.relevance (None: not judged yet, ranks last)
    eligibility: str | None = None  # Finding.eligibility_verdict

    @property
    def section(self) -> str:
        return SECTION_OF.get(self.kind, "news")

    def recent(self, days: int) -> bool:
        """Whether its own date lies within `days` before it was first seen (unknown: yes)."""
        return is_recent(self.own_date, self.first_seen.date() - timedelta(days=days))

    def announced_new(self) -> bool:
        """New to the recipient, and not merely already known when watching began."""
        return self.new and (not self.baseline or self.fresh)

    @property
    def always_shown(self) -> bool:
        return (self.kind == "trial" and bool(self.significance & ALWAYS_SHOWN)
                and (self.watched or self.eligibility == "may_fit"))

    @property
    def open_nearby(self) -> bool:
        return self.kind == "trial" and self.watched and (self.status or "") in OPEN_STATUSES


@dataclass
class Story:
    """What one card shows: a finding, or a news story told by several sources."""

    items: list[Item]

    @property
    def lead(self) -> Item:
        return self.items[0]

    @property
    def relevance(self) -> float:
        return self.lead.relevance or 0.0


@dataclass
class SectionChoice:
    """The stories a section shows, and how many it leaves out, per topic."""

    id: str
    shown: list[Story]
    more: int = 0
    more_by_topic: Counter[str] = field(default_factory=Counter)


@dataclass
class Choice:
    """What the digest shows and counts; `carried` is everything it carries for the ledger."""

    top: list[Story]
    sections: list[SectionChoice]
    carried: list[Item]
    starting_point: bool
    known: Counter[str]  # per section: already known when watching began, not shown


def _day(value: str | None) -> str | None:
    """`2026-11-17T20:30:00Z` -> `2026-11-17`; what does not start with a date stays as given."""
    match = _DATE_RE.match(value or "")
    return match.group(0) if match else value


def is_recent(own: str | None, since: date) -> bool:
    """A partial date (`2026`, `2026-11`) counts as recent if any day of it could be; a date
    that does not read as one (or none) is unknown, and unknown is never held against it."""
    match = _DATE_RE.match(own or "")
    return not match or match.group(0) >= since.isoformat()[:len(match.group(0))]


def gather(session: Session, *, period_label: str, end: datetime, recipient: str,
           topics: RelevanceContext) -> list[Item]:
    """Every finding first seen before `end` and every significant change seen before it that
    no digest of another period sent to `recipient` carried."""
    items = {row.finding_id: row for row in _light(session, _uncarried_findings(
        period_label, recipient).where(Finding.first_seen_at < end))}
    for item in items.values():
        item.new = True
    changes = session.exec(select(Change.id, Change.finding_id, Change.significance).where(
        col(Change.significance).in_(tuple(SIGNIFICANCE)),
        Change.seen_at < end, col(Change.id).not_in(_carried(period_label, recipient, changes=True)))
        .order_by(col(Change.seen_at), col(Change.id))).all()
    missing = sorted({fid for _, fid, _ in changes} - set(items))
    for start in range(0, len(missing), 500):
        query = select(*_LIGHT).where(col(Finding.id).in_(missing[start:start + 500]),
                                      Finding.placeholder == False)  # noqa: E712
        items.update((row.finding_id, row) for row in _light(session, query))
    for change_id, finding_id, significance in changes:
        if finding_id in items:
            items[finding_id].change_ids.append(change_id)
            items[finding_id].significance.add(significance)
    _add_topics(session, items, topics)
    return list(items.values())


_LIGHT = (Finding.id, Finding.kind, Finding.baseline, Finding.first_seen_at, Finding.published,
          *(func.json_extract(Finding.details, f"$.{name}") for name in _DETAIL_DATES),
          Finding.evidence, Finding.status, func.json_array_length(Finding.watched_sites),
          Finding.story_key, Finding.relevance, Finding.eligibility_verdict)


def _uncarried_findings(period_label: str, recipient: str) -> Select:
    return select(*_LIGHT).where(
        Finding.placeholder == False,  # noqa: E712
        col(Finding.id).not_in(_carried(period_label, recipient, changes=False)))


def _carried(period_label: str, recipient: str, *, changes: bool) -> SelectOfScalar:
    """Finding (or Change) ids that sent digests of other periods carried to `recipient`."""
    column = DigestEntry.change_id if changes else DigestEntry.finding_id
    query = (select(column).join(Digest, col(Digest.id) == DigestEntry.digest_id)
             .where(Digest.recipient == recipient, Digest.status == "sent",
                    Digest.period != period_label, col(column).is_not(None)))
    return query if changes else query.where(col(DigestEntry.change_id).is_(None))


def _light(session: Session, query: Select) -> list[Item]:
    items = []
    for (fid, kind, baseline, first_seen, published, *dates, evidence, status, watched,
         story, relevance, verdict) in session.exec(query):
        details = dict(zip(_DETAIL_DATES, dates, strict=True))
        items.append(Item(finding_id=fid, kind=kind, baseline=bool(baseline), first_seen=first_seen,
                          own_date=_day(own_date(kind, published, details)[0]), evidence=evidence,
                          status=status, watched=bool(watched), story_key=story,
                          relevance=relevance, eligibility=verdict))
    return items


def _add_topics(session: Session, items: dict[int, Item], topics: RelevanceContext) -> None:
    """Each item's topics, most specific first (assess.relevance.ranked_topics: the heaviest,
    an option before the disease); it is filed under the first."""
    ids = sorted(items)
    for start in range(0, len(ids), 500):
        for fid, topic in session.exec(select(TopicMatch.finding_id, TopicMatch.topic).where(
                col(TopicMatch.finding_id).in_(ids[start:start + 500]))):
            items[fid].topics.append(topic)
    ranked: dict[frozenset[str], list[str]] = {}  # a few combinations serve thousands of items
    for item in items.values():
        key = frozenset(item.topics)
        if key not in ranked:
            ranked[key] = [topic for topic, _ in ranked_topics(dict.fromkeys(sorted(key), ()), topics)]
        item.topics = ranked[key]
        item.topic = item.topics[0] if item.topics else "other"


def sent_before(session: Session, *, period_label: str, recipient: str) -> bool:
    """Whether a digest of another period was sent to `recipient` (if not: a starting point)."""
    return session.exec(select(Digest.id).where(
        Digest.recipient == recipient, Digest.status == "sent", Digest.period != period_label)
        .limit(1)).first() is not None


def choose(items: Sequence[Item], limits: Limits, *, starting_point: bool) -> Choice:
    """Cap every section (what must always be shown is), pick the top box, count the rest."""
    known: Counter[str] = Counter()
    pools: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        item.fresh = item.recent(limits.new_within_days)
        item.announced = item.announced_new()
        if item.change_ids or item.announced or (item.new and _starting(item)):
            pools[item.section].append(item)
        else:
            known[item.section] += 1
    sections = [_section(sid, pools[sid], limits, starting_point) for sid in SECTION_IDS]
    top = _top(sections, limits.top_items)
    return Choice(top=top, sections=sections, carried=list(items), starting_point=starting_point,
                  known=known)


def _starting(item: Item) -> bool:
    """What a starting point may show of what was already known: trials open in a watched
    place, and evidence of the last STARTING_POINT_DAYS."""
    return item.open_nearby or (item.kind != "trial" and item.recent(STARTING_POINT_DAYS))


def _section(section: str, pool: list[Item], limits: Limits, starting_point: bool) -> SectionChoice:
    stories = _stories(pool) if section == "news" else [Story([item]) for item in pool]
    stories.sort(key=lambda s: (-s.relevance, s.lead.finding_id))
    if starting_point and section == "trials":
        stories.sort(key=lambda s: not s.lead.open_nearby)
    elif starting_point:
        stories = _per_topic(stories)
    cap = limits.cap(section)
    shown = [s for n, s in enumerate(stories) if n < cap or s.lead.always_shown]
    chosen = {id(s) for s in shown}
    rest = [s for s in stories if id(s) not in chosen]
    return SectionChoice(section, shown, len(rest), Counter(s.lead.topic for s in rest))


def _per_topic(stories: list[Story]) -> list[Story]:
    """Round robin over topics, each topic's best first: the best of every topic comes before
    the second best of any."""
    queues: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        queues[story.lead.topic].append(story)
    ordered: list[Story] = []
    depth = 0
    while len(ordered) < len(stories):
        ordered += [queue[depth] for queue in queues.values() if depth < len(queue)]
        depth += 1
    return ordered


def _stories(items: list[Item]) -> list[Story]:
    """News items sharing a story key are one story, led by its most relevant item."""
    stories: dict[object, Story] = {}
    for item in sorted(items, key=lambda i: (-(i.relevance or 0.0), i.finding_id)):
        story_id = item.story_key if item.story_key and not item.change_ids else item.finding_id
        stories.setdefault(story_id, Story([])).items.append(item)
    return list(stories.values())


def _top(sections: list[SectionChoice], size: int) -> list[Story]:
    """The most relevant shown stories of all sections move to the top box."""
    shown = [(s, section) for section in sections for s in section.shown]
    best = sorted(shown, key=lambda pair: (-pair[0].relevance, pair[0].lead.finding_id))[:size]
    for story, section in best:
        section.shown.remove(story)
    return [story for story, _ in best]
