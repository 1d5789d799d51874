"""Search and filter stored findings: FTS5 full-text search (trigram tokenizer, so any script
works) with highlighted snippets, a LIKE fallback for terms too short for trigrams (two-character
Chinese terms such as 肝癌), and the filters of the web findings list and `hccwatch search --local`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, column, func, literal_column, or_, table
from sqlmodel import Session, col, select

from store.models import Finding, FindingSource, TopicMatch

PAGE_SIZE = 50
COUNT_CAP = 500  # counting every match of a common term is slow; "more than 500" is enough
TRIGRAM = 3
SNIPPET_WIDTH = 90
_TERM_RE = re.compile(r'"([^"]+)"|(\S+)')
FTS = table("finding_fts", column("rowid"))


@dataclass(frozen=True)
class Filters:
    """What the user asked for; every field optional."""

    q: str = ""
    topic: str | None = None
    kind: str | None = None
    sources: tuple[str, ...] = ()
    status: str | None = None
    evidence: str | None = None
    since: date | None = None
    until: date | None = None
    near: bool = False


@dataclass(frozen=True)
class Segment:
    """A piece of text; `hit` pieces are what matched the search (rendered highlighted)."""

    text: str
    hit: bool = False


@dataclass
class Hit:
    finding: Finding
    title: list[Segment]
    snippet: list[Segment] = field(default_factory=list)


@dataclass
class Page:
    hits: list[Hit]
    total: int
    capped: bool
    mode: str  # "list", "fts", "like" or "fts+like"
    offset: int = 0
    limit: int = PAGE_SIZE

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total or (self.capped and len(self.hits) == self.limit)


def search_terms(q: str) -> list[str]:
    """Words of a query; "quoted phrases" stay one term."""
    return [a or b for a, b in _TERM_RE.findall(q or "") if (a or b).strip()]


def fts_expression(terms: list[str]) -> str:
    """An FTS5 MATCH string in which every term is a quoted string (no operator injection)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _like_clause(term: str) -> Any:
    pattern = _like_pattern(term)
    return or_(*(column_.like(pattern, escape="\\") for column_ in
                 (col(Finding.title), func.coalesce(Finding.title_alt, ""), col(Finding.summary))))


def _plain(column: Any, walk: bool) -> Any:
    """With `walk`, the column wrapped so that SQLite cannot use an index on it (its `+x` idiom):
    it then walks the first-seen index newest first and stops after one page, instead of
    gathering and sorting every match of a filter that matches thousands of rows."""
    return func.coalesce(column, "") if walk else column


def _member(subquery: Select, walk: bool) -> Any:
    """Finding.id in `subquery` (of finding ids); when walking, a correlated EXISTS probed
    once per row through the subquery table's finding_id index."""
    if not walk:
        return col(Finding.id).in_(subquery)
    column = subquery.selected_columns[0]
    return subquery.where(column == Finding.id).exists()


def _filtered(query: Select, filters: Filters, *, walk: bool = False) -> Select:
    if filters.topic:
        query = query.where(_member(
            select(TopicMatch.finding_id).where(TopicMatch.topic == filters.topic), walk))
    if filters.sources:
        query = query.where(or_(*(_member(source_ids(s), walk) for s in filters.sources)))
    for name in ("kind", "status", "evidence"):
        value = getattr(filters, name)
        if value:
            query = query.where(_plain(getattr(Finding, name), walk) == value)
    if filters.since:
        query = query.where(Finding.first_seen_at >= _start_of(filters.since))
    if filters.until:
        query = query.where(Finding.first_seen_at < _start_of(filters.until + timedelta(days=1)))
    if filters.near:  # only trials have sites; watched_sites is JSON text, "[]" when empty
        query = query.where(_plain(Finding.kind, walk) == "trial",
                            func.length(Finding.watched_sites) > 2)
    return query


def source_ids(source: str) -> Select:
    """Ids of the findings from a source. Feed items are stored per feed ("feed:<name>"):
    "feeds" means any of them; "adhoc" means found by an ad-hoc search."""
    if source == "adhoc":
        return select(TopicMatch.finding_id).where(TopicMatch.via == "adhoc")
    match = (col(FindingSource.source).startswith("feed:") if source == "feeds"
             else FindingSource.source == source)
    return select(FindingSource.finding_id).where(match)


def source_clause(source: str) -> Any:
    return col(Finding.id).in_(source_ids(source))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def build_query(filters: Filters, *, walk: bool = False) -> tuple[Select, str]:
    """The filtered, ordered query and how the text part is matched (`walk`: see _plain)."""
    query = _filtered(select(Finding).where(Finding.placeholder == False), filters,  # noqa: E712
                      walk=walk)
    terms = search_terms(filters.q)
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    short_terms = [t for t in terms if len(t) < TRIGRAM]
    for term in short_terms:
        query = query.where(_like_clause(term))
    if long_terms:
        query = (query.join(FTS, FTS.c.rowid == Finding.id)
                 .where(literal_column("finding_fts").op("MATCH")(fts_expression(long_terms)))
                 .order_by(FTS.c.rowid.desc()))
    else:
        query = query.order_by(col(Finding.first_seen_at).desc(), col(Finding.id).desc())
    mode = "+".join(name for name, used in (("fts", long_terms), ("like", short_terms)) if used)
    return query, mode or "list"


def search(session: Session, filters: Filters, *, limit: int = PAGE_SIZE,
           offset: int = 0) -> Page:
    """One page of matching findings (newest first) with highlighted titles and snippets."""
    query, mode = build_query(filters)
    if mode == "list":
        rows, counted = _list_page(session, filters, query, limit, offset)
    else:
        rows, counted = _text_page(session, query, limit, offset)
    terms = search_terms(filters.q)
    hits = [Hit(f, highlight(f.title, terms), snippet(f, terms)) for f in rows]
    return Page(hits, min(counted, COUNT_CAP), counted > COUNT_CAP, mode, offset, limit)


def _list_page(session: Session, filters: Filters, query: Select, limit: int,
               offset: int) -> tuple[list[Finding], int]:
    counted = count(session, query)
    if counted > COUNT_CAP:
        query, _ = build_query(filters, walk=True)
    return list(session.exec(query.offset(offset).limit(limit))), counted


def _text_page(session: Session, query: Select, limit: int,
               offset: int) -> tuple[list[Finding], int]:
    """One pass over the text matches: the ids of the first COUNT_CAP + 1 give both the count
    and (unless the user paged past them) the page."""
    ids = list(session.exec(query.with_only_columns(col(Finding.id)).limit(COUNT_CAP + 1)))
    if offset + limit > len(ids) > COUNT_CAP:
        return list(session.exec(query.offset(offset).limit(limit))), len(ids)
    page = ids[offset:offset + limit]
    found = {f.id: f for f in session.exec(select(Finding).where(col(Finding.id).in_(page)))}
    return [found[i] for i in page if i in found], len(ids)


def count(session: Session, query: Select) -> int:
    """Matches of an unordered query, counted up to COUNT_CAP + 1."""
    ids = query.with_only_columns(col(Finding.id)).order_by(None).limit(COUNT_CAP + 1)
    return session.exec(select(func.count()).select_from(ids.subquery())).one()


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = sorted({re.escape(t) for t in terms}, key=len, reverse=True)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def highlight(text: str, terms: list[str]) -> list[Segment]:
    """`text` cut into plain and matching segments."""
    pattern = _pattern(terms)
    if pattern is None or not text:
        return [Segment(text or "")]
    segments, last = [], 0
    for match in pattern.finditer(text):
        if match.start() > last:
            segments.append(Segment(text[last:match.start()]))
        segments.append(Segment(match.group(0), True))
        last = match.end()
    if last < len(text):
        segments.append(Segment(text[last:]))
    return segments


def snippet(finding: Finding, terms: list[str], width: int = SNIPPET_WIDTH) -> list[Segment]:
    """A window of the summary (or the other-language title) around the first match."""
    pattern = _pattern(terms)
    for text in (finding.summary or "", finding.title_alt or ""):
        match = pattern.search(text) if pattern else None
        if match:
            start = max(0, match.start() - width // 3)
            end = min(len(text), start + width)
            piece = " ".join(text[start:end].split())
            prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
            return highlight(prefix + piece + suffix, terms)
    summary = " ".join((finding.summary or "").split())
    return [Segment(summary[:width] + ("…" if len(summary) > width else ""))] if summary else []


def segments_text(segments: list[Segment], mark: tuple[str, str] = ("[", "]")) -> str:
    """Plain text with hits bracketed (for the command line)."""
    return "".join(f"{mark[0]}{s.text}{mark[1]}" if s.hit else s.text for s in segments)


def distinct_values(session: Session, name: str) -> list[str]:
    """The values a Finding column takes (for filter choices), sorted."""
    attribute = getattr(Finding, name)
    rows = session.exec(select(attribute).where(attribute != None).distinct())  # noqa: E711
    return sorted(v for v in rows if v)


def status_counts(session: Session, *, topic: str) -> dict[str, int]:
    """Trials of a topic per status (None for trials whose status is not known)."""
    query = (select(Finding.status, func.count()).where(
        Finding.kind == "trial", Finding.placeholder == False,  # noqa: E712
        col(Finding.id).in_(select(TopicMatch.finding_id).where(TopicMatch.topic == topic)))
        .group_by(Finding.status))
    return dict(session.exec(query).all())


def topic_counts(session: Session) -> dict[str, tuple[int, str]]:
    """topic id -> (how many findings, how they were tagged: query, match or adhoc)."""
    query = (select(TopicMatch.topic, func.count(), func.max(TopicMatch.via))
             .group_by(TopicMatch.topic))
    return {topic: (count, via) for topic, count, via in session.exec(query).all()}
