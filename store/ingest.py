"""Upsert Records into the store: resolve identity (one Finding however many sources name it),
merge, record Change events, tag topics, link articles and news to the trials they name, and
commit each (source, query) batch together with its cursor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from itertools import islice
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, and_, or_
from sqlmodel import Session, SQLModel, col, select

from sources.records import KEY_SCHEMES, Location, Record, canonical_key, key_rank, normalize_id
from store.db import index_for_search, utcnow
from store.models import (
    ADHOC_TOPIC_PREFIX,
    Change,
    DigestEntry,
    Finding,
    FindingSource,
    Identifier,
    Link,
    SourceState,
    TopicMatch,
)

STOPPED = {"TERMINATED", "WITHDRAWN", "SUSPENDED"}
_CHUNK = 400


@dataclass(slots=True)
class BatchResult:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.fetched += other.fetched
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changes += other.changes
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "new": self.new, "updated": self.updated,
                "unchanged": self.unchanged, "changes": self.changes, "skipped": len(self.skipped)}


def content_hash(record: Record) -> str:
    # The same JSON as dataclasses.asdict(record) gives, without its deep copy of every value.
    data = {f.name: getattr(record, f.name) for f in fields(record)
            if f.name not in ("source", "topics")}  # which topic found it is tagging, not content
    data["locations"] = [asdict(location) for location in record.locations]
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def record_ids(record: Record) -> list[tuple[str, str]]:
    return [(scheme, normalize_id(scheme, value)) for scheme, value in record.ids.items()]


def ingest_batch(session: Session, records: Iterable[Record], *, source: str, query: str,
                 seen_at: datetime, cursor: str | None = None,
                 error: str | None = None) -> BatchResult:
    """Store one (source, query) batch and, in the same transaction, its new cursor and a
    success mark. With `error` (part of the fetch failed) what arrived is stored, but the cursor
    stays and the failure counts as one more in a row. The caller commits; nothing here is
    visible until it does."""
    result = BatchResult()
    for chunk in _chunks(records, _CHUNK):
        _ingest_chunk(session, chunk, seen_at, result)
    state = get_state(session, source=source, query=query)
    failures = state.consecutive_failures
    mark_success(state, at=seen_at, count=result.fetched)
    if error is None:
        state.cursor = cursor
    else:
        state.consecutive_failures = failures
        _note_failure(state, at=utcnow(), error=error)
    session.add(state)
    return result


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _count(result: BatchResult, outcome: Outcome) -> None:
    setattr(result, outcome.kind, getattr(result, outcome.kind) + 1)
    result.changes += outcome.changes


@dataclass(slots=True)
class _Known:
    """What the store already holds about one chunk's identifiers, read in a few queries, so
    that records which are wholly new or wholly unchanged need no per-record round trips."""

    ids: dict[tuple[str, str], int]
    placeholders: set[int]
    hashes: dict[tuple[int, str], str]
    topics: dict[tuple[int, str], set[str]]

    @classmethod
    def load(cls, session: Session, chunk: list[Record]) -> _Known:
        wanted = {pair for record in chunk for pair in record_ids(record)}
        ids: dict[tuple[str, str], int] = {}
        by_scheme: dict[str, list[str]] = {}
        for scheme, value in sorted(wanted):
            by_scheme.setdefault(scheme, []).append(value)
        for scheme, values in by_scheme.items():  # (scheme, value) is the unique index
            for start in range(0, len(values), 500):
                ids.update(((scheme, value), fid) for value, fid in session.exec(
                    select(Identifier.value, Identifier.finding_id).where(
                        Identifier.scheme == scheme, col(Identifier.value).in_(values[start:start + 500]))))
        found = sorted(set(ids.values()))
        known = cls(ids, set(), {}, {})
        for start in range(0, len(found), 500):
            part = found[start:start + 500]
            known.placeholders.update(session.exec(select(Finding.id).where(
                col(Finding.id).in_(part), Finding.placeholder == True)))  # noqa: E712
            for fid, src, digest in session.exec(select(FindingSource.finding_id, FindingSource.source,
                                                        FindingSource.content_hash)
                                                 .where(col(FindingSource.finding_id).in_(part))):
                known.hashes[(fid, src)] = digest
            for fid, topic, terms in session.exec(select(TopicMatch.finding_id, TopicMatch.topic,
                                                         TopicMatch.terms)
                                                  .where(col(TopicMatch.finding_id).in_(part))):
                known.topics[(fid, topic)] = set(terms)
        return known

    def unchanged(self, record: Record, pairs: list[tuple[str, str]], digest: str) -> bool:
        """True when storing `record` would write nothing at all."""
        fids = {self.ids.get(pair) for pair in pairs}
        if len(fids) != 1 or None in fids:
            return False
        fid = fids.pop()
        return (fid not in self.placeholders and self.hashes.get((fid, record.source)) == digest
                and all(set(terms) <= self.topics.get((fid, topic), {None})
                        for topic, terms in record.topics.items()))


def _ingest_chunk(session: Session, chunk: list[Record], seen_at: datetime, result: BatchResult) -> None:
    """Wholly new records are inserted together; unchanged ones are counted without a write;
    everything else (merges, updates, placeholders) goes through upsert_record one by one.
    What the store knew is read again only before a record whose identifiers (or findings)
    an earlier write of this chunk touched."""
    known = _Known.load(session, chunk)
    linked = {(scheme, value) for record in chunk for scheme, value, _ in link_targets(record)}
    fresh: list[tuple[Record, str]] = []
    claimed: set[tuple[str, str]] = set()
    touched = _Touched()
    for index, record in enumerate(chunk):
        result.fetched += 1
        pairs, digest = record_ids(record), content_hash(record)
        if touched.affects(known, pairs):
            known, touched = _Known.load(session, chunk[index:]), _Touched()
        if not any(p in known.ids or p in claimed or p in linked for p in pairs):
            claimed.update(pairs)
            fresh.append((record, digest))
        elif known.unchanged(record, pairs, digest):
            result.unchanged += 1
        else:
            for written, _ in fresh:
                touched.add(known, written, record_ids(written))
            _insert_fresh(session, fresh, seen_at, result)
            fresh = []
            outcome = upsert_record(session, record, seen_at=seen_at)
            _count(result, outcome)
            touched.add(known, record, pairs, outcome.finding.id)
    _insert_fresh(session, fresh, seen_at, result)


@dataclass(slots=True)
class _Touched:
    """The identifiers and findings that writes since `_Known.load` may have changed: the
    records' own identifiers and link targets (placeholders), and the findings those named
    (merges move identifiers between them)."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    finding_ids: set[int] = field(default_factory=set)

    def add(self, known: _Known, record: Record, pairs: list[tuple[str, str]],
            finding_id: int | None = None) -> None:
        new = {*pairs, *((scheme, value) for scheme, value, _ in link_targets(record))}
        self.pairs |= new
        self.finding_ids.update(known.ids[p] for p in new if p in known.ids)
        if finding_id is not None:
            self.finding_ids.add(finding_id)

    def affects(self, known: _Known, pairs: list[tuple[str, str]]) -> bool:
        return any(p in self.pairs or known.ids.get(p) in self.finding_ids for p in pairs)


def _insert_fresh(session: Session, fresh: list[tuple[Record, str]], seen_at: datetime,
                  result: BatchResult) -> None:
    """Insert findings no identifier of which is stored yet, in a few multi-row statements."""
    if not fresh:
        return
    rows = [_finding_row(record, seen_at, digest) for record, digest in fresh]
    bulk_insert(session, Finding, rows)
    keys = [row["key"] for row in rows]
    by_key = dict(session.exec(select(Finding.key, Finding.id).where(col(Finding.key).in_(keys))).all())
    finding_ids = [by_key[key] for key in keys]
    index_for_search(session, [(fid, row["summary"]) for fid, row in zip(finding_ids, rows, strict=True)])
    identifiers, sources, topics = [], [], []
    for (record, digest), fid in zip(fresh, finding_ids, strict=True):
        identifiers += [{"scheme": s, "value": v, "finding_id": fid} for s, v in record_ids(record)]
        sources.append({"finding_id": fid, "source": record.source, "first_seen_at": seen_at,
                        "content_hash": digest})
        topics += [{"finding_id": fid, "topic": topic, "terms": list(terms), "via": _via(topic, terms)}
                   for topic, terms in record.topics.items()]
    for model, values in ((Identifier, identifiers), (FindingSource, sources), (TopicMatch, topics)):
        bulk_insert(session, model, values)
    for (record, _), fid in zip(fresh, finding_ids, strict=True):
        if link_targets(record):
            _link_mentions(session, session.get(Finding, fid), record, seen_at)
    result.new += len(fresh)


def bulk_insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) with one executemany through the driver. Values
    go through each column's own bind processor, so they are stored exactly as the ORM stores
    them (JSON text, datetimes); skipped is SQLAlchemy's per-row statement work, which cost
    more than SQLite's own in a bulk ingest. Columns left out get no Python-side default."""
    if not rows:
        return
    connection = session.connection()
    table = model.__table__
    names = list(rows[0])
    processors = [(name, _processor(table.c[name].type, connection.dialect)) for name in names]
    values = [tuple(row[name] if process is None else process(row[name]) for name, process in processors)
              for row in rows]
    columns = ", ".join(f'"{name}"' for name in names)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({columns}) '
                               f"VALUES ({', '.join('?' * len(names))})", values)


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for JSON, empty lists and dicts (most of them) skip
    the serializer: their JSON text is always the same."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)  # as the ORM compiles it
    if process is None or not isinstance(type_, JSON):
        return process

    def process_json(value: Any) -> Any:
        if isinstance(value, list | dict) and not value:
            return "[]" if isinstance(value, list) else "{}"
        return process(value)
    return process_json


def _finding_row(record: Record, seen_at: datetime, digest: str) -> dict[str, Any]:
    """The column values of a new Finding (built without the model: constructing SQLModel
    objects dominates the cost of a bulk insert)."""
    row = SimpleNamespace(**{c.name: None for c in Finding.__table__.columns if c.name != "id"})
    row.__dict__.update(key=record.key, first_seen_at=seen_at, last_seen_at=seen_at, summary="",
                        phases=[], locations=[], watched_sites=[], details={}, placeholder=False)
    _fill(row, record, digest)
    return vars(row)


def _via(topic: str, terms: list[str]) -> str:
    """'adhoc' for an ad-hoc search's topic, 'query' for the topic whose query found the record
    (the Tagger notes it as 'query: ...'), 'match' for topics whose terms it mentions."""
    if topic.startswith(ADHOC_TOPIC_PREFIX):
        return "adhoc"
    return "query" if any(t.startswith("query:") for t in terms) else "match"


@dataclass(slots=True)
class Outcome:
    kind: str  # "new" | "updated" | "unchanged"
    finding: Finding
    changes: int = 0


def upsert_record(session: Session, record: Record, *, seen_at: datetime) -> Outcome:
    """Insert or merge one Record; a second identical record changes nothing at all."""
    finding = resolve(session, record_ids(record))
    digest = content_hash(record)
    source_row: FindingSource | None = None  # this source's row for the finding, if any
    if finding is None:
        finding = _create(session, record, seen_at=seen_at, digest=digest)
        session.add(finding)
        session.flush()
        index_for_search(session, [(finding.id, finding.summary)])
        outcome = Outcome("new", finding)
    elif finding.placeholder:
        _fill(finding, record, digest)
        finding.placeholder = False
        finding.first_seen_at = seen_at
        source_row = _source_row(session, finding.id, record.source)
        outcome = Outcome("new", finding)
    else:
        rows = {row.source: row for row in session.exec(
            select(FindingSource).where(FindingSource.finding_id == finding.id))}
        source_row = rows.get(record.source)
        if source_row is not None and source_row.content_hash == digest:
            _tag(session, finding, record, seen_at, digest, source_row)
            return Outcome("unchanged", finding)
        lead = leads(set(rows), record)
        changes = diff(finding, record, seen_at=seen_at, sources=set(rows))
        if not lead:  # a secondary source may still bring news of a retraction
            changes = [c for c in changes if c.significance == "retraction"]
        session.add_all(changes)
        _fill(finding, record, digest, lead=lead)
        outcome = Outcome("updated", finding, len(changes))
    finding.last_seen_at = seen_at
    if key_rank(record.key) < key_rank(finding.key):
        finding.key = record.key  # e.g. a preprint's doi: key once PubMed names its PMID
    session.add(finding)
    session.flush()
    _add_identifiers(session, finding, record)
    _tag(session, finding, record, seen_at, digest, source_row)
    _link_mentions(session, finding, record, seen_at)
    return outcome


def resolve(session: Session, ids: list[tuple[str, str]]) -> Finding | None:
    """The Finding any of these identifiers names; merges several into one if they disagree."""
    if not ids:
        return None
    clause = or_(*(and_(Identifier.scheme == s, Identifier.value == v) for s, v in ids))
    finding_ids = sorted({row.finding_id for row in session.exec(select(Identifier).where(clause))})
    if not finding_ids:
        return None
    keeper = session.get(Finding, finding_ids[0])
    for other_id in finding_ids[1:]:
        merge_findings(session, keeper, session.get(Finding, other_id))
    return keeper


def merge_findings(session: Session, keeper: Finding, other: Finding) -> None:
    """Fold `other` into `keeper`: identifiers, sources, topics, links and changes move over."""
    for model, column in ((Identifier, "finding_id"), (FindingSource, "finding_id"),
                          (TopicMatch, "finding_id"), (Change, "finding_id"),
                          (DigestEntry, "finding_id"), (Link, "src_id"), (Link, "dst_id")):
        for row in session.exec(select(model).where(getattr(model, column) == other.id)):
            if _duplicate_after_move(session, model, row, column, keeper.id):
                session.delete(row)
            else:
                setattr(row, column, keeper.id)
                session.add(row)
    if keeper.placeholder and not other.placeholder:
        for name in ("kind", "title", "summary", "url", "status", "evidence", "details"):
            setattr(keeper, name, getattr(other, name))
        keeper.placeholder = False
    keeper.first_seen_at = min(keeper.first_seen_at, other.first_seen_at)
    session.flush()
    session.delete(other)
    session.flush()


def _duplicate_after_move(session: Session, model: type, row: Any, column: str,
                          keeper_id: int) -> bool:
    if model is FindingSource:
        return _source_row(session, keeper_id, row.source) is not None
    if model is TopicMatch:
        return session.exec(select(TopicMatch).where(
            TopicMatch.finding_id == keeper_id, TopicMatch.topic == row.topic)).first() is not None
    if model is Link:
        src, dst = (keeper_id, row.dst_id) if column == "src_id" else (row.src_id, keeper_id)
        return src == dst or session.exec(select(Link).where(
            Link.src_id == src, Link.dst_id == dst, Link.relation == row.relation)).first() is not None
    return False


def _create(session: Session, record: Record, *, seen_at: datetime, digest: str) -> Finding:
    finding = Finding(key=record.key, kind=record.kind, title=record.title,
                      first_seen_at=seen_at, last_seen_at=seen_at)
    _fill(finding, record, digest)
    return finding


# Which source's values a finding shows when several report it: the registry first, then
# PubMed, then Europe PMC, then feeds. This makes the stored state independent of the order
# in which sources are polled.
SOURCE_RANK = {"ctgov": 0, "pubmed": 1, "europepmc": 2}


def source_rank(source: str) -> int:
    return SOURCE_RANK.get(source, len(SOURCE_RANK))


def leads(sources: set[str], record: Record) -> bool:
    """Whether the record's source ranks at least as high as every source already reporting
    the finding (`sources`), so its values win."""
    ranks = [source_rank(s) for s in sources]
    return not ranks or source_rank(record.source) <= min(ranks)


def _fill_missing(finding: Finding, record: Record) -> None:
    """A lower-ranked source only fills gaps (and may mark a retraction)."""
    for name in ("title_alt", "url", "published", "updated", "status", "lang", "summary"):
        if not getattr(finding, name) and getattr(record, name):
            setattr(finding, name, getattr(record, name))
    if not finding.evidence or record.evidence == "retracted":
        finding.evidence = record.evidence or finding.evidence
    finding.details = {**record.details, **(finding.details or {})}


def _fill(finding: Finding, record: Record, digest: str, *, lead: bool = True) -> None:
    """Copy the record's values onto the finding (empty values never erase known ones)."""
    if not lead:
        _fill_missing(finding, record)
        return
    finding.kind = record.kind
    finding.title = record.title or finding.title
    finding.content_hash = digest
    for name in ("title_alt", "url", "published", "updated", "evidence", "status", "lang"):
        value = getattr(record, name)
        if value:
            setattr(finding, name, value)
    if record.summary:
        finding.summary = record.summary
    if record.kind == "trial" or record.phases:
        finding.phases = list(record.phases)
        finding.locations = [_location_dict(loc) for loc in record.locations]
        finding.watched_sites = list(record.watched_sites)
    finding.details = {**(finding.details or {}), **record.details}


def _location_dict(location: Location) -> dict[str, Any]:
    data = {k: getattr(location, k) for k in ("facility", "city", "state", "country", "status")}
    data["contacts"] = [
        {k: getattr(c, k) for k in ("name", "role", "phone", "email")} for c in location.contacts
    ]
    return data


def _add_identifiers(session: Session, finding: Finding, record: Record) -> None:
    for scheme, value in record_ids(record):
        exists = session.exec(select(Identifier).where(
            Identifier.scheme == scheme, Identifier.value == value)).first()
        if exists is None:
            session.add(Identifier(scheme=scheme, value=value, finding_id=finding.id))


def _source_row(session: Session, finding_id: int | None, source: str) -> FindingSource | None:
    return session.exec(select(FindingSource).where(
        FindingSource.finding_id == finding_id, FindingSource.source == source)).first()


def _tag(session: Session, finding: Finding, record: Record, seen_at: datetime,
         digest: str, row: FindingSource | None) -> None:
    """Record the source (with its content hash; `row` is its stored row, if any) and the
    topic matches of a finding, writing only what is missing or different."""
    if row is None:
        session.add(FindingSource(finding_id=finding.id, source=record.source,
                                  first_seen_at=seen_at, content_hash=digest))
    elif row.content_hash != digest:
        row.content_hash = digest
        session.add(row)
    for topic, terms in record.topics.items():
        match = session.exec(select(TopicMatch).where(
            TopicMatch.finding_id == finding.id, TopicMatch.topic == topic)).first()
        if match is None:
            session.add(TopicMatch(finding_id=finding.id, topic=topic, terms=list(terms), via=_via(topic, terms)))
        elif not set(terms) <= set(match.terms):
            match.terms = sorted(set(match.terms) | set(terms))
            session.add(match)


def _link_mentions(session: Session, finding: Finding, record: Record, seen_at: datetime) -> None:
    """Link to every trial the record names and every finding it declares related (a preprint's
    journal version), creating placeholders for those not stored yet."""
    for scheme, value, relation in link_targets(record):
        target = resolve(session, [(scheme, value)]) or _placeholder(session, scheme, value, seen_at)
        if target.id == finding.id:
            continue
        exists = session.exec(select(Link).where(
            Link.src_id == finding.id, Link.dst_id == target.id, Link.relation == relation)).first()
        if exists is None:
            session.add(Link(src_id=finding.id, dst_id=target.id, relation=relation))


def link_targets(record: Record) -> list[tuple[str, str, str]]:
    """(scheme, value, relation) of every finding a record points at."""
    targets = [("nct", nct.upper(), "mentions") for nct in record.mentions]
    for item in record.details.get("related") or []:
        if isinstance(item, dict) and item.get("scheme") in KEY_SCHEMES and item.get("value"):
            targets.append((item["scheme"], normalize_id(item["scheme"], str(item["value"])),
                            str(item.get("relation") or "related")))
    return targets


def _placeholder(session: Session, scheme: str, value: str, seen_at: datetime) -> Finding:
    """A stand-in finding for something named but not fetched yet (filled when it arrives)."""
    ids = {scheme: value}
    url = {"nct": f"https://clinicaltrials.gov/study/{value}",
           "pmid": f"https://pubmed.ncbi.nlm.nih.gov/{value}/"}.get(scheme)
    target = Finding(key=canonical_key(ids), kind="trial" if scheme == "nct" else "article",
                     title=canonical_key(ids), url=url, first_seen_at=seen_at, last_seen_at=seen_at,
                     placeholder=True)
    session.add(target)
    session.flush()
    session.add(Identifier(scheme=scheme, value=value, finding_id=target.id))
    return target


def diff(finding: Finding, record: Record, *, seen_at: datetime, sources: set[str]) -> list[Change]:
    """The Change events between what is stored and a newer record of the same thing
    (`sources`: those already reporting it; only one of them can rename it)."""
    def change(name: str, old: Any, new: Any, significance: str) -> Change:
        return Change(finding_id=finding.id, field=name, old=_text(old), new=_text(new),
                      seen_at=seen_at, significance=significance, source=record.source)

    changes: list[Change] = []
    if record.status and finding.status and record.status != finding.status:
        changes.append(change("status", finding.status, record.status, status_significance(record.status)))
    if record.kind == "trial" and record.phases and record.phases != finding.phases:
        changes.append(change("phases", ", ".join(finding.phases), ", ".join(record.phases), "phase"))
    old_results = (finding.details or {}).get("results_first_posted")
    new_results = record.details.get("results_first_posted")
    if new_results and not old_results:
        changes.append(change("results_first_posted", None, new_results, "results"))
    if record.evidence == "retracted" and finding.evidence != "retracted":
        changes.append(change("evidence", finding.evidence, "retracted", "retraction"))
    if record.title and record.title != finding.title and record.source in sources:
        changes.append(change("title", finding.title, record.title, "minor"))
    if record.kind == "trial":
        changes.extend(site_changes(finding, record, change))
    return changes


def status_significance(status: str) -> str:
    if status == "RECRUITING":
        return "recruiting"
    if status in STOPPED:
        return "stopped"
    if status == "COMPLETED":
        return "completed"
    return "status"


def site_changes(finding: Finding, record: Record, change: Any) -> list[Change]:
    """Sites added, removed or changing recruitment status; watched places named one by one."""
    old = {_site_key(loc): loc for loc in finding.locations or []}
    new = {loc.site_key(): _location_dict(loc) for loc in record.locations}
    watched = {site.get("site_key") for site in record.watched_sites}
    changes, others_added = [], []
    for key, loc in new.items():
        label = _site_label(loc)
        if key not in old:
            if key in watched:
                changes.append(change("site", None, f"{label} ({loc.get('status') or 'status not given'})",
                                      "watched_site"))
            else:
                others_added.append(label)
        elif loc.get("status") != old[key].get("status"):
            significance = "watched_site" if key in watched else "site"
            changes.append(change("site_status", f"{label}: {old[key].get('status')}",
                                  f"{label}: {loc.get('status')}", significance))
    if others_added:
        shown = "; ".join(others_added[:5]) + (" …" if len(others_added) > 5 else "")
        changes.append(change("sites", f"{len(old)} sites", f"{len(new)} sites (new: {shown})", "site"))
    removed = [key for key in old if key not in new]
    if removed:
        changes.append(change("sites_removed", f"{len(removed)} sites no longer listed",
                              "; ".join(_site_label(old[k]) for k in removed[:5]), "minor"))
    return changes


def _site_key(loc: dict[str, Any]) -> str:
    return " | ".join(loc.get(p) or "" for p in ("facility", "city", "country"))


def _site_label(loc: dict[str, Any]) -> str:
    return ", ".join(loc.get(p) for p in ("facility", "city", "country") if loc.get(p))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def get_state(session: Session, *, source: str, query: str) -> SourceState:
    return session.get(SourceState, (source, query)) or SourceState(source=source, query=query)


def mark_success(state: SourceState, *, at: datetime, count: int) -> None:
    state.last_attempt_at = at
    state.last_success_at = at
    state.last_error = None
    state.consecutive_failures = 0
    state.last_count = count


def record_failure(session: Session, *, source: str, query: str, at: datetime, error: str) -> None:
    """Note a failed (source, query) attempt without touching its cursor."""
    state = get_state(session, source=source, query=query)
    _note_failure(state, at=at, error=error)
    session.add(state)


def _note_failure(state: SourceState, *, at: datetime, error: str) -> None:
    state.last_attempt_at = at
    state.last_error = error[:1000]
    state.last_error_at = at
    state.consecutive_failures += 1
