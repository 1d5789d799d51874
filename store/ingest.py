"""Store (source, query) batches of Records: wholly new records inserted together, unchanged
ones counted without a write, the rest upserted one by one; each batch committed together
with its cursor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlmodel import Session, col, select

from sources.records import Record
from store.bulk import bulk_insert, chunks
from store.db import index_for_search
from store.identity import Known, Touched, content_hash, link_targets, record_ids
from store.models import Finding, FindingSource, Identifier, TopicMatch
from store.state import commit_batch, get_state, in_baseline
from store.upsert import Outcome, fill, link_mentions, upsert_record, via

CHUNK = 400


@dataclass(slots=True)
class BatchResult:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)  # findings written (new, updated, merged)

    def add(self, other: BatchResult) -> None:
        self.fetched += other.fetched
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changes += other.changes
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)
        self.touched |= other.touched

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "new": self.new, "updated": self.updated,
                "unchanged": self.unchanged, "changes": self.changes, "skipped": len(self.skipped)}


class Inserted(Protocol):
    """Told of each finding a call inserts whole from one Record, and cleared when a later
    write of the call may have changed any of them (an upsert may merge or delete): what it
    holds then describes findings exactly as stored, with no change or merge of their own.
    (A judge reads them from the Record instead of back from the store.)"""

    def add(self, finding_id: int, record: Record) -> None: ...

    def clear(self) -> None: ...


def ingest_batch(session: Session, records: Iterable[Record], *, source: str, query: str,
                 seen_at: datetime, cursor: str | None = None,
                 error: str | None = None, inserted: Inserted | None = None) -> BatchResult:
    """Store one (source, query) batch and, in the same transaction, its new cursor and a
    success mark. With `error` (part of the fetch failed) what arrived is stored, but the cursor
    stays and the failure counts as one more in a row. The caller commits; nothing here is
    visible until it does. `inserted`, if given, is told what was inserted."""
    result = BatchResult()
    state = get_state(session, source=source, query=query)
    ingest_records(session, records, seen_at=seen_at, baseline=in_baseline(state), result=result,
                   inserted=inserted)
    commit_batch(state, at=seen_at, count=result.fetched, cursor=cursor, error=error)
    session.add(state)
    return result


def ingest_records(session: Session, records: Iterable[Record], *, seen_at: datetime,
                   baseline: bool, result: BatchResult, inserted: Inserted | None = None) -> None:
    """Store records without touching any cursor (one page of a task whose cursor commits
    after its last page), counting them on `result`; `inserted`, if given, is told what was
    inserted."""
    for chunk in chunks(records, CHUNK):
        _ingest_chunk(session, chunk, seen_at, result, baseline=baseline, inserted=inserted)


def _count(result: BatchResult, outcome: Outcome) -> None:
    setattr(result, outcome.kind, getattr(result, outcome.kind) + 1)
    result.changes += outcome.changes


def _ingest_chunk(session: Session, chunk: list[Record], seen_at: datetime, result: BatchResult, *,
                  baseline: bool, inserted: Inserted | None) -> None:
    """Wholly new records are inserted together; unchanged ones are counted without a write;
    everything else (merges, updates, placeholders) goes through upsert_record one by one.
    What the store knew is read again only before a record whose identifiers (or findings)
    an earlier write of this chunk touched."""
    known = Known.load(session, chunk)
    linked = {(scheme, value) for record in chunk for scheme, value, _ in link_targets(record)}
    fresh: list[tuple[Record, str]] = []
    claimed: set[tuple[str, str]] = set()
    touched = Touched()
    for index, record in enumerate(chunk):
        result.fetched += 1
        pairs, digest = record_ids(record), content_hash(record)
        if touched.affects(known, pairs):
            known, touched = Known.load(session, chunk[index:]), Touched()
        if not any(p in known.ids or p in claimed or p in linked for p in pairs):
            claimed.update(pairs)
            fresh.append((record, digest))
        elif known.unchanged(record, pairs, digest):
            result.unchanged += 1
        else:
            for written, _ in fresh:
                touched.add(known, written, record_ids(written))
            _insert_fresh(session, fresh, seen_at, result, baseline=baseline, inserted=inserted)
            fresh = []
            outcome = upsert_record(session, record, seen_at=seen_at, baseline=baseline)
            if inserted is not None:
                inserted.clear()  # the upsert may have merged into (or deleted) any of them
            _count(result, outcome)
            result.touched.add(outcome.finding.id)
            touched.add(known, record, pairs, outcome.finding.id)
    _insert_fresh(session, fresh, seen_at, result, baseline=baseline, inserted=inserted)


def _insert_fresh(session: Session, fresh: list[tuple[Record, str]], seen_at: datetime,
                  result: BatchResult, *, baseline: bool, inserted: Inserted | None) -> None:
    """Insert findings no identifier of which is stored yet, in a few multi-row statements."""
    if not fresh:
        return
    rows = [_finding_row(record, seen_at, digest, baseline) for record, digest in fresh]
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
        topics += [{"finding_id": fid, "topic": topic, "terms": list(terms), "via": via(topic, terms)}
                   for topic, terms in record.topics.items()]
    for model, values in ((Identifier, identifiers), (FindingSource, sources), (TopicMatch, topics)):
        bulk_insert(session, model, values)
    for (record, _), fid in zip(fresh, finding_ids, strict=True):
        if link_targets(record):
            link_mentions(session, session.get(Finding, fid), record, seen_at)
        if inserted is not None:
            inserted.add(fid, record)
    result.new += len(fresh)
    result.touched.update(finding_ids)


def _finding_row(record: Record, seen_at: datetime, digest: str, baseline: bool) -> dict[str, Any]:
    """The column values of a new Finding (built without the model: constructing SQLModel
    objects dominates the cost of a bulk insert)."""
    row = SimpleNamespace(**{c.name: None for c in Finding.__table__.columns if c.name != "id"})
    row.__dict__.update(key=record.key, first_seen_at=seen_at, last_seen_at=seen_at, summary="",
                        phases=[], locations=[], watched_sites=[], details={}, placeholder=False,
                        baseline=baseline, why=[])
    fill(row, record, digest)
    return vars(row)
