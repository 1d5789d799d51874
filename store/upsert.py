"""Insert or update one Record: fill the Finding from the source that ranks highest, record
its Change events, its source and topic matches, and link it to the trials and papers it
names (placeholders for those not stored yet)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from sources.records import Record, canonical_key, id_page, key_rank
from store.changes import diff, location_dict
from store.db import index_for_search
from store.identity import content_hash, find_source_row, link_targets, record_ids, resolve
from store.models import ADHOC_TOPIC_PREFIX, Finding, FindingSource, Identifier, Link, TopicMatch

# Which source's values a finding shows when several report it: the registry first, then
# PubMed, then Europe PMC, then feeds. This makes the stored state independent of the order
# in which sources are polled.
SOURCE_RANK = {"ctgov": 0, "pubmed": 1, "europepmc": 2}


@dataclass(slots=True)
class Outcome:
    kind: str  # "new" | "updated" | "unchanged"
    finding: Finding
    changes: int = 0


def upsert_record(session: Session, record: Record, *, seen_at: datetime,
                  baseline: bool = False) -> Outcome:
    """Insert or merge one Record; a second identical record changes nothing at all. A finding
    it creates is marked `baseline` when a (source, query) baseline found it."""
    finding = resolve(session, record_ids(record))
    digest = content_hash(record)
    source_row: FindingSource | None = None  # this source's row for the finding, if any
    if finding is None:
        finding = _create(session, record, seen_at=seen_at, digest=digest)
        finding.baseline = baseline
        session.add(finding)
        session.flush()
        index_for_search(session, [(finding.id, finding.summary)])
        outcome = Outcome("new", finding)
    elif finding.placeholder:
        fill(finding, record, digest)
        finding.placeholder = False
        finding.first_seen_at = seen_at
        finding.baseline = baseline
        source_row = find_source_row(session, finding.id, record.source)
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
        fill(finding, record, digest, lead=lead)
        outcome = Outcome("updated", finding, len(changes))
    finding.last_seen_at = seen_at
    if key_rank(record.key) < key_rank(finding.key):
        finding.key = record.key  # e.g. a preprint's doi: key once PubMed names its PMID
    session.add(finding)
    session.flush()
    _add_identifiers(session, finding, record)
    _tag(session, finding, record, seen_at, digest, source_row)
    link_mentions(session, finding, record, seen_at)
    return outcome


def _create(session: Session, record: Record, *, seen_at: datetime, digest: str) -> Finding:
    finding = Finding(key=record.key, kind=record.kind, title=record.title,
                      first_seen_at=seen_at, last_seen_at=seen_at)
    fill(finding, record, digest)
    return finding


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


def fill(finding: Finding, record: Record, digest: str, *, lead: bool = True) -> None:
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
        finding.locations = [location_dict(loc) for loc in record.locations]
        finding.watched_sites = list(record.watched_sites)
    finding.details = {**(finding.details or {}), **record.details}


def _add_identifiers(session: Session, finding: Finding, record: Record) -> None:
    for scheme, value in record_ids(record):
        exists = session.exec(select(Identifier).where(
            Identifier.scheme == scheme, Identifier.value == value)).first()
        if exists is None:
            session.add(Identifier(scheme=scheme, value=value, finding_id=finding.id))


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
            session.add(TopicMatch(finding_id=finding.id, topic=topic, terms=list(terms), via=via(topic, terms)))
        elif not set(terms) <= set(match.terms):
            match.terms = sorted(set(match.terms) | set(terms))
            session.add(match)


def link_mentions(session: Session, finding: Finding, record: Record, seen_at: datetime) -> None:
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


def _placeholder(session: Session, scheme: str, value: str, seen_at: datetime) -> Finding:
    """A stand-in finding for something named but not fetched yet (filled when it arrives)."""
    ids = {scheme: value}
    url = id_page(scheme, value) if scheme in ("nct", "pmid") else None
    target = Finding(key=canonical_key(ids), kind="trial" if scheme == "nct" else "article",
                     title=canonical_key(ids), url=url, first_seen_at=seen_at, last_seen_at=seen_at,
                     placeholder=True)
    session.add(target)
    session.flush()
    session.add(Identifier(scheme=scheme, value=value, finding_id=target.id))
    return target


def via(topic: str, terms: list[str]) -> str:
    """'adhoc' for an ad-hoc search's topic, 'query' for the topic whose query found the record
    (the Tagger notes it as 'query: ...'), 'match' for topics whose terms it mentions."""
    if topic.startswith(ADHOC_TOPIC_PREFIX):
        return "adhoc"
    return "query" if any(t.startswith("query:") for t in terms) else "match"
