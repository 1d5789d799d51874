"""Read access to stored findings in the shape the CLI, the web pages and the digest share
(the `findings --format json` contract in DESIGN.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlmodel import Session, col, func, select

from sources.records import KEY_SCHEMES, parse_key
from store.db import iso
from store.models import (
    Change,
    Digest,
    DigestEntry,
    Finding,
    FindingSource,
    Identifier,
    Link,
    SourceWarning,
    TopicMatch,
)
from store.search import ordering, source_clause
from store.vocab import aware

CHUNK = 500  # ids per IN (...) list
ELIGIBLE = ("may_fit", "unclear")  # `--eligible`: trials the patient may fit or that need asking


def list_findings(session: Session, *, topic: str | None = None, kind: str | None = None,
                  since: datetime | None = None, source: str | None = None,
                  ids: Sequence[int] | None = None, limit: int | None = None,
                  offset: int = 0, sort: str = "date", eligible: bool = False) -> list[Finding]:
    """Stored findings (placeholders excluded), newest first or (`sort="relevance"`) most
    relevant first; `eligible` keeps trials the patient may fit or that are unclear."""
    query = select(Finding).where(Finding.placeholder == False)  # noqa: E712
    if topic:
        query = query.where(col(Finding.id).in_(
            select(TopicMatch.finding_id).where(TopicMatch.topic == topic)))
    if source:
        query = query.where(source_clause(source))
    if kind:
        query = query.where(Finding.kind == kind)
    if since:
        query = query.where(Finding.first_seen_at >= since)
    if ids is not None:
        query = query.where(col(Finding.id).in_(list(ids)))
    if eligible:
        query = query.where(Finding.kind == "trial", col(Finding.eligibility_verdict).in_(ELIGIBLE))
    query = query.order_by(*ordering(sort))
    if limit:
        query = query.offset(offset).limit(limit)
    return list(session.exec(query))


def get_finding(session: Session, key: str) -> Finding | None:
    """By canonical key or by any identifier (`pmid:1`, `doi:...`, `NCT...`)."""
    scheme, value = parse_key(key)
    row = session.exec(select(Identifier).where(
        Identifier.scheme == scheme, Identifier.value == value)).first()
    if row is not None:
        return session.get(Finding, row.finding_id)
    return session.exec(select(Finding).where(Finding.key == key.strip())).first()


def _grouped(session: Session, model: Any, finding_ids: list[int]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for start in range(0, len(finding_ids), CHUNK):
        chunk = finding_ids[start:start + CHUNK]
        for row in session.exec(select(model).where(col(model.finding_id).in_(chunk))):
            grouped[row.finding_id].append(row)
    return grouped


def describe(session: Session, findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Findings as JSON-ready dicts (one query per related table, not per finding)."""
    ids = [f.id for f in findings]
    identifiers = _grouped(session, Identifier, ids)
    sources = _grouped(session, FindingSource, ids)
    topics = _grouped(session, TopicMatch, ids)
    return [_as_dict(f, identifiers[f.id], sources[f.id], topics[f.id]) for f in findings]


def _as_dict(finding: Finding, identifiers: list[Identifier], sources: list[FindingSource],
             topics: list[TopicMatch]) -> dict[str, Any]:
    ids: dict[str, str] = {}
    for row in sorted(identifiers, key=lambda r: r.id or 0):
        ids.setdefault(row.scheme, row.value)
    data = {
        "key": finding.key,
        "kind": finding.kind,
        "title": finding.title,
        "title_alt": finding.title_alt,
        "summary": finding.summary,
        "url": finding.url,
        "sources": sorted({s.source for s in sources}),
        "topics": sorted({t.topic for t in topics}),
        "topic_terms": {t.topic: t.terms for t in topics},
        "identifiers": {k: ids[k] for k in KEY_SCHEMES if k in ids},
        "published": finding.published,
        "updated": finding.updated,
        "first_seen": iso(finding.first_seen_at),
        "last_seen": iso(finding.last_seen_at),
        "evidence": finding.evidence,
        "lang": finding.lang,
        "relevance": finding.relevance,
        "why": [w.get("en", "") for w in finding.why or []],
        "why_zh": [w.get("zh", "") for w in finding.why or []],
        "eligibility": finding.eligibility_verdict,
    }
    if finding.kind == "trial":
        data.update(status=finding.status, phases=finding.phases, locations=finding.locations,
                    watched_sites=finding.watched_sites)
    data["details"] = finding.details
    return data


def changes_of(session: Session, finding_id: int) -> list[Change]:
    return list(session.exec(select(Change).where(Change.finding_id == finding_id)
                             .order_by(col(Change.seen_at), col(Change.id))))


def linked(session: Session, finding_ids: Sequence[int], *, incoming: bool,
           kind: str | None = None) -> dict[int, list[tuple[str, Finding]]]:
    """Per finding id, (relation, other finding) for every finding it names (or, `incoming`,
    every finding naming it), oldest link first; `kind` keeps others of that kind. One query
    per chunk of ids, not one per finding."""
    mine, theirs = (Link.dst_id, Link.src_id) if incoming else (Link.src_id, Link.dst_id)
    found: dict[int, list[tuple[str, Finding]]] = defaultdict(list)
    for start in range(0, len(finding_ids), CHUNK):
        query = (select(mine, Link.relation, Finding).join(Finding, col(Finding.id) == theirs)
                 .where(col(mine).in_(finding_ids[start:start + CHUNK])).order_by(col(Link.id)))
        if kind:
            query = query.where(Finding.kind == kind)
        for finding_id, relation, other in session.exec(query):
            found[finding_id].append((relation, other))
    return found


def links_of(session: Session, finding: Finding) -> list[dict[str, Any]]:
    """Findings this one names and findings naming it (e.g. a trial's articles)."""
    return [{"direction": direction, "relation": relation, "key": other.key, "kind": other.kind,
             "title": other.title, "url": other.url, "placeholder": other.placeholder}
            for direction, incoming in (("out", False), ("in", True))
            for relation, other in linked(session, [finding.id], incoming=incoming)[finding.id]]


def show(session: Session, finding: Finding) -> dict[str, Any]:
    data = describe(session, [finding])[0]
    data["changes"] = [
        {"field": c.field, "old": c.old, "new": c.new, "seen_at": iso(c.seen_at),
         "significance": c.significance, "source": c.source}
        for c in changes_of(session, finding.id)
    ]
    data["links"] = links_of(session, finding)
    data["placeholder"] = finding.placeholder
    data["eligibility"] = finding.eligibility  # the whole pre-screen: verdict, reasons, questions
    return data


def _has_ledger(session: Session) -> bool:
    """Whether the store has a digest ledger yet (a store no digest was made from may not)."""
    return inspect(session.connection()).has_table(Digest.__tablename__)


def digest_archive(session: Session, *, limit: int = 500) -> list[Digest] | None:
    """The digests made so far, newest first (None when the store has no ledger yet)."""
    if not _has_ledger(session):
        return None
    return list(session.exec(select(Digest).order_by(col(Digest.id).desc()).limit(limit)))


def digest_by_id(session: Session, digest_id: int) -> Digest | None:
    """One archived digest, with its rendered content."""
    return session.get(Digest, digest_id) if _has_ledger(session) else None


def source_warnings(session: Session) -> dict[tuple[str, str], list[str]]:
    """(source, query) -> what the upstream warned about on that query's last successful poll."""
    warnings: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in session.exec(select(SourceWarning).order_by(
            col(SourceWarning.source), col(SourceWarning.query), col(SourceWarning.id))):
        warnings[(row.source, row.query)].append(row.message)
    return dict(warnings)


def stored_ids(session: Session, scheme: str) -> list[str]:
    """Every stored identifier of one scheme (e.g. each PMID), placeholders left out."""
    return list(session.exec(select(Identifier.value).join(Finding, Finding.id == Identifier.finding_id)
                             .where(Identifier.scheme == scheme, Finding.placeholder == False)  # noqa: E712
                             .order_by(Identifier.value)))


def first_carried(session: Session, finding_ids: Iterable[int]) -> dict[int, datetime]:
    """Per finding: when a sent digest first carried it (as new, or one of its changes)."""
    ids = sorted(set(finding_ids))
    found: dict[int, datetime] = {}
    if not ids:
        return found
    sent = (Digest.status == "sent", col(Digest.sent_at).is_not(None))
    direct = (select(DigestEntry.finding_id, func.min(Digest.sent_at))
              .join(Digest, col(Digest.id) == DigestEntry.digest_id)
              .where(col(DigestEntry.finding_id).in_(ids), *sent)
              .group_by(DigestEntry.finding_id))
    by_change = (select(Change.finding_id, func.min(Digest.sent_at))
                 .join(DigestEntry, col(DigestEntry.change_id) == Change.id)
                 .join(Digest, col(Digest.id) == DigestEntry.digest_id)
                 .where(col(Change.finding_id).in_(ids), *sent)
                 .group_by(Change.finding_id))
    for query in (direct, by_change):
        for finding_id, at in session.exec(query).all():
            if finding_id is not None and at is not None:
                found[finding_id] = min(aware(at), found.get(finding_id, aware(at)))
    return found
