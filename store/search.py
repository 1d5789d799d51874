"""Search and filter stored findings: FTS5 full-text search with highlighted snippets, and the
filters of the web findings list and `hccwatch search --local`.

How a term is matched (see store/db.py for the two indexes):
- a term in a script without spaces (肝细胞癌, 卡瑞利珠单抗) matches any substring of a title or
  summary, through the trigram index;
- any other term (atezolizumab, "overall survival", QL1706) matches the start of words anywhere
  (transplant finds transplantation) through the word index, and any substring of a title or
  of a Chinese summary through the trigram index;
- a term shorter than three characters (肝癌, PD) is matched as plain text (LIKE), as trigrams
  cannot index it.
Several terms must all match.

A query that is one of a watchlist topic's terms (QL1706, 转化治疗) is searched as any of that
topic's terms in either language, or tagged with the topic (`synonyms_of`, `Filters.synonyms`);
the caller says so and offers the literal search."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, column, func, literal_column, or_, table, union
from sqlmodel import Session, col, select

from store.db import unspaced
from store.models import Finding, FindingSource, TopicMatch

PAGE_SIZE = 50
COUNT_CAP = 500  # counting every match of a common term is slow; "more than 500" is enough
TRIGRAM = 3
SNIPPET_WIDTH = 90
_TERM_RE = re.compile(r'"([^"]+)"|(\S+)')
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # FTS5 reads a NUL as the end of the query
_WORD_RE = re.compile(r"[^\W_]")  # a term with no letter or digit has no words
SUBSTRINGS = table("finding_fts", column("rowid"))
WORDS = table("finding_words", column("rowid"))


@dataclass(frozen=True)
class Synonyms:
    """What a query that is a topic's term is widened to: every term of its topic(s)."""

    term: str  # as typed
    topics: tuple[str, ...]  # topic ids
    terms: tuple[str, ...]  # every term of those topics, both languages


def synonyms_of(q: str, topics: Iterable[tuple[str, Sequence[str]]]) -> Synonyms | None:
    """The synonyms of `q` when the whole query (quotes, case and spacing aside) is one of the
    terms of some topics, given as (topic id, its terms in both languages); else None."""
    wanted = " ".join(_CONTROL_RE.sub(" ", q or "").replace('"', " ").split()).casefold()
    if not wanted:
        return None
    ids: list[str] = []
    terms: dict[str, str] = {}
    for topic_id, topic_terms in topics:
        if wanted in (" ".join(t.split()).casefold() for t in topic_terms):
            ids.append(topic_id)
            terms.update((t.casefold(), t) for t in topic_terms if t.strip())
    if not ids:
        return None
    return Synonyms(" ".join(q.replace('"', " ").split()), tuple(ids), tuple(terms.values()))


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
    synonyms: Synonyms | None = None  # set: q is searched as any of these (see synonyms_of)
    sort: str = "date"  # or "relevance": most relevant to the patient first


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
    q = _CONTROL_RE.sub(" ", q or "")
    return [a or b for a, b in _TERM_RE.findall(q) if (a or b).strip()]


def fts_expression(terms: list[str], *, prefix: bool = False, any_of: bool = False) -> str:
    """An FTS5 MATCH string in which every term is a quoted string (no operator injection),
    each required, or with `any_of` any one; with `prefix`, the last word of each term also
    matches longer words."""
    star = " *" if prefix else ""
    return (" OR " if any_of else " ").join('"' + term.replace('"', '""') + '"' + star for term in terms)


@dataclass(frozen=True)
class Terms:
    """A query's terms by how they are matched."""

    words: list[str]  # by words or substrings
    substrings: list[str]  # written without spaces: by substrings only
    short: list[str]  # too short for trigrams: plain text

    @classmethod
    def of(cls, q: str) -> Terms:
        terms = search_terms(q)
        long_terms = [t for t in terms if len(t) >= TRIGRAM]
        return cls([t for t in long_terms if not unspaced(t) and _WORD_RE.search(t)],
                   [t for t in long_terms if unspaced(t) or not _WORD_RE.search(t)],
                   [t for t in terms if len(t) < TRIGRAM])


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
    if filters.until and filters.until < date.max:  # nothing is first seen after date.max
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
    """The filtered query without its text part, ordered newest first, with the short terms
    applied, and how the text is matched: "list" (no text), "like", "fts" or "fts+like"."""
    query = _filtered(select(Finding).where(Finding.placeholder == False), filters,  # noqa: E712
                      walk=walk)
    terms = Terms.of(filters.q)
    for term in terms.short:
        query = query.where(_like_clause(term))
    indexed = terms.words or terms.substrings
    mode = "+".join(name for name, used in (("fts", indexed), ("like", terms.short)) if used)
    return query.order_by(*ordering(filters.sort)), mode or "list"


def ordering(sort: str) -> tuple[Any, ...]:
    """ORDER BY terms: newest first, or most relevant first (SQLite puts NULL, not judged
    yet, last in a descending order), newest first among equals."""
    newest = (col(Finding.first_seen_at).desc(), col(Finding.id).desc())
    return (col(Finding.relevance).desc(), *newest) if sort == "relevance" else newest


def _match(index: Any) -> Any:
    return literal_column(index.name).op("MATCH")


def _fts_ids(base: Select, index: Any, expression: str) -> Select:
    """Ids of the findings of `base` whose entry in `index` matches `expression`, newest first
    (FTS5 walks the index in that order and stops at the LIMIT)."""
    return (base.join(index, index.c.rowid == Finding.id).where(_match(index)(expression))
            .order_by(index.c.rowid.desc()))


def _ids(query: Select) -> Select:
    return query.with_only_columns(col(Finding.id)).order_by(None)


def text_queries(query: Select, terms: Terms) -> list[Select]:
    """Ids of the findings of `query` (from build_query) matching the indexed terms, newest
    first, as one or two queries whose results are merged: every term by substrings of titles
    and unspaced summaries; and, when there are terms with words, those by words anywhere and
    the rest by substrings."""
    base = _ids(query)
    queries = [_fts_ids(base, SUBSTRINGS, fts_expression(terms.words + terms.substrings))]
    if terms.words:
        words = _fts_ids(base, WORDS, fts_expression(terms.words, prefix=True))
        if terms.substrings:
            words = words.where(col(Finding.id).in_(
                select(SUBSTRINGS.c.rowid).where(_match(SUBSTRINGS)(fts_expression(terms.substrings)))))
        queries.append(words)
    return queries


def search(session: Session, filters: Filters, *, limit: int = PAGE_SIZE,
           offset: int = 0) -> Page:
    """One page of matching findings (newest first) with highlighted titles and snippets."""
    if filters.synonyms:
        rows, counted = _text_page(session, synonym_queries(filters), limit, offset, filters.sort)
        terms, mode = list(filters.synonyms.terms), "synonyms"
    else:
        query, mode = build_query(filters)
        if "fts" in mode:
            rows, counted = _text_page(session, text_queries(query, Terms.of(filters.q)), limit, offset,
                                       filters.sort)
        else:
            rows, counted = _list_page(session, filters, query, limit, offset)
        terms = search_terms(filters.q)
    hits = [Hit(f, highlight(f.title, terms), snippet(f, terms)) for f in rows]
    return Page(hits, min(counted, COUNT_CAP), counted > COUNT_CAP, mode, offset, limit)


def synonym_queries(filters: Filters) -> list[Select]:
    """Ids (newest first) of the filtered findings matching any one synonym, each as a phrase
    matched as it would be searched alone (see Terms), and of those tagged with the synonyms'
    topics: one query per index with the phrases OR-ed, one for the synonyms too short for
    trigrams, one per topic (through its (topic, finding_id) index, newest first)."""
    assert filters.synonyms is not None
    query, _ = build_query(replace(filters, q="", synonyms=None))
    base = _ids(query)
    terms = Terms.of(" ".join('"' + term.replace('"', " ") + '"' for term in filters.synonyms.terms))
    queries = []
    if terms.words or terms.substrings:
        queries.append(_fts_ids(base, SUBSTRINGS, fts_expression(terms.words + terms.substrings, any_of=True)))
    if terms.words:
        queries.append(_fts_ids(base, WORDS, fts_expression(terms.words, prefix=True, any_of=True)))
    if terms.short:
        queries.append(base.where(or_(*map(_like_clause, terms.short))).order_by(col(Finding.id).desc()))
    tagged = base.join(TopicMatch, TopicMatch.finding_id == Finding.id)
    return queries + [tagged.where(TopicMatch.topic == topic).order_by(col(TopicMatch.finding_id).desc())
                      for topic in filters.synonyms.topics]


def _list_page(session: Session, filters: Filters, query: Select, limit: int,
               offset: int) -> tuple[list[Finding], int]:
    counted = count(session, query)
    if counted > COUNT_CAP:
        query, _ = build_query(filters, walk=True)
    return list(session.exec(query.offset(offset).limit(limit))), counted


def _text_page(session: Session, queries: list[Select], limit: int,
               offset: int, sort: str = "date") -> tuple[list[Finding], int]:
    """The newest matches of each query (at least COUNT_CAP + 1, which gives the count),
    merged (and, sorting by relevance, put in that order); then the page's findings by id."""
    wanted = max(COUNT_CAP + 1, offset + limit)
    ids = _newest_ids(session, queries, wanted)
    if sort == "relevance":
        ids = list(session.exec(select(Finding.id).where(col(Finding.id).in_(ids))
                                .order_by(*ordering(sort))))
    page = ids[offset:offset + limit]
    found = {f.id: f for f in session.exec(select(Finding).where(col(Finding.id).in_(page)))}
    return [found[i] for i in page if i in found], min(len(ids), COUNT_CAP + 1)


def _newest_ids(session: Session, queries: list[Select], wanted: int) -> list[int]:
    """The `wanted` largest ids that any of `queries` (each newest first) gives, largest first:
    one statement, each query limited to `wanted` before the union."""
    parts = [query.limit(wanted).subquery() for query in queries]
    merged = union(*(select(part.c.id) for part in parts)).subquery()
    return list(session.exec(select(merged.c.id).order_by(merged.c.id.desc()).limit(wanted)))


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
