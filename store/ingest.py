"""Upsert Records into the store: resolve identity (one Finding however many sources name it),
merge, record Change events, tag topics, link articles and news to the trials they name, and
commit each (source, query) batch together with its cursor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, select

from sources.records import Location, Record, canonical_key, normalize_id
from store.models import (
    Change,
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

    def add(self, other: BatchResult) -> None:
        self.fetched += other.fetched
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changes += other.changes
        self.skipped.extend(other.skipped)

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "new": self.new, "updated": self.updated,
                "unchanged": self.unchanged, "changes": self.changes, "skipped": len(self.skipped)}


def content_hash(record: Record) -> str:
    data = record.to_dict()
    data.pop("source", None)
    data.pop("topics", None)  # which topic found it is tagging, not content
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def record_ids(record: Record) -> list[tuple[str, str]]:
    return [(scheme, normalize_id(scheme, value)) for scheme, value in record.ids.items()]


def ingest_batch(session: Session, records: Iterable[Record], *, source: str, query: str,
                 seen_at: datetime, cursor: str | None = None,
                 advance_cursor: bool = True) -> BatchResult:
    """Store one (source, query) batch and, in the same transaction, its new cursor and a
    success mark. The caller commits; nothing here is visible until it does."""
    result = BatchResult()
    for record in records:
        result.fetched += 1
        outcome = upsert_record(session, record, seen_at=seen_at)
        setattr(result, outcome.kind, getattr(result, outcome.kind) + 1)
        result.changes += outcome.changes
    state = get_state(session, source=source, query=query)
    if advance_cursor:
        state.cursor = cursor
    mark_success(state, at=seen_at, count=result.fetched)
    session.add(state)
    return result


@dataclass(slots=True)
class Outcome:
    kind: str  # "new" | "updated" | "unchanged"
    finding: Finding
    changes: int = 0


def upsert_record(session: Session, record: Record, *, seen_at: datetime) -> Outcome:
    """Insert or merge one Record; a second identical record changes nothing at all."""
    finding = resolve(session, record_ids(record))
    digest = content_hash(record)
    if finding is None:
        finding = _create(session, record, seen_at=seen_at, digest=digest)
        outcome = Outcome("new", finding)
    elif finding.placeholder:
        _fill(finding, record, digest)
        finding.placeholder = False
        finding.first_seen_at = seen_at
        outcome = Outcome("new", finding)
    else:
        source_row = _source_row(session, finding.id, record.source)
        if source_row is not None and source_row.content_hash == digest:
            _tag(session, finding, record, seen_at, digest)
            return Outcome("unchanged", finding)
        changes = diff(finding, record, seen_at=seen_at)
        session.add_all(changes)
        _fill(finding, record, digest)
        outcome = Outcome("updated", finding, len(changes))
    finding.last_seen_at = seen_at
    session.add(finding)
    session.flush()
    _add_identifiers(session, finding, record)
    _tag(session, finding, record, seen_at, digest)
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
                          (Link, "src_id"), (Link, "dst_id")):
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


def _fill(finding: Finding, record: Record, digest: str) -> None:
    """Copy the record's values onto the finding (empty values never erase known ones)."""
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
         digest: str) -> None:
    """Record the source (with its content hash) and the topic matches of a finding, writing
    only what is missing or different."""
    row = _source_row(session, finding.id, record.source)
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
            session.add(TopicMatch(finding_id=finding.id, topic=topic, terms=list(terms),
                                   via="query" if record.source in ("ctgov", "pubmed", "europepmc") else "match"))
        elif not set(terms) <= set(match.terms):
            match.terms = sorted(set(match.terms) | set(terms))
            session.add(match)


def _link_mentions(session: Session, finding: Finding, record: Record, seen_at: datetime) -> None:
    """Link to every trial the record names, creating a placeholder for trials not yet stored."""
    for nct in record.mentions:
        target = resolve(session, [("nct", nct.upper())])
        if target is None:
            target = Finding(key=canonical_key({"nct": nct.upper()}), kind="trial", title=nct.upper(),
                             url=f"https://clinicaltrials.gov/study/{nct.upper()}",
                             first_seen_at=seen_at, last_seen_at=seen_at, placeholder=True)
            session.add(target)
            session.flush()
            session.add(Identifier(scheme="nct", value=nct.upper(), finding_id=target.id))
        if target.id == finding.id:
            continue
        exists = session.exec(select(Link).where(
            Link.src_id == finding.id, Link.dst_id == target.id, Link.relation == "mentions")).first()
        if exists is None:
            session.add(Link(src_id=finding.id, dst_id=target.id, relation="mentions"))


def diff(finding: Finding, record: Record, *, seen_at: datetime) -> list[Change]:
    """The Change events between what is stored and a newer record of the same thing."""
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
    if record.title and record.title != finding.title and record.source in _sources(finding):
        changes.append(change("title", finding.title, record.title, "minor"))
    if record.kind == "trial":
        changes.extend(site_changes(finding, record, change))
    return changes


def _sources(finding: Finding) -> set[str]:
    session = Session.object_session(finding)
    if session is None or finding.id is None:
        return set()
    return {row.source for row in session.exec(select(FindingSource).where(
        FindingSource.finding_id == finding.id))}


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
    state.last_attempt_at = at
    state.last_error = error[:1000]
    state.last_error_at = at
    state.consecutive_failures += 1
    session.add(state)
