"""How the store recognises a record: its normalised identifiers, its content hash, the
Finding those identifiers name (merging findings found to be one), and what one chunk of
records already has in the store (the identity cache of the bulk path)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from sources.records import KEY_SCHEMES, Record, normalize_id
from store.models import Change, DigestEntry, Finding, FindingSource, Identifier, Link, TopicMatch


def content_hash(record: Record) -> str:
    # The same JSON as dataclasses.asdict(record) gives, without its deep copy of every value.
    data = {f.name: getattr(record, f.name) for f in fields(record)
            if f.name not in ("source", "topics")}  # which topic found it is tagging, not content
    data["locations"] = [asdict(location) for location in record.locations]
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def record_ids(record: Record) -> list[tuple[str, str]]:
    return [(scheme, normalize_id(scheme, value)) for scheme, value in record.ids.items()]


def link_targets(record: Record) -> list[tuple[str, str, str]]:
    """(scheme, value, relation) of every finding a record points at."""
    targets = [("nct", nct.upper(), "mentions") for nct in record.mentions]
    for item in record.details.get("related") or []:
        if isinstance(item, dict) and item.get("scheme") in KEY_SCHEMES and item.get("value"):
            targets.append((item["scheme"], normalize_id(item["scheme"], str(item["value"])),
                            str(item.get("relation") or "related")))
    return targets


@dataclass(slots=True)
class Known:
    """What the store already holds about one chunk's identifiers, read in a few queries, so
    that records which are wholly new or wholly unchanged need no per-record round trips."""

    ids: dict[tuple[str, str], int]
    placeholders: set[int]
    hashes: dict[tuple[int, str], str]
    topics: dict[tuple[int, str], set[str]]

    @classmethod
    def load(cls, session: Session, chunk: list[Record]) -> Known:
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


@dataclass(slots=True)
class Touched:
    """The identifiers and findings that writes since `Known.load` may have changed: the
    records' own identifiers and link targets (placeholders), and the findings those named
    (merges move identifiers between them)."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    finding_ids: set[int] = field(default_factory=set)

    def add(self, known: Known, record: Record, pairs: list[tuple[str, str]],
            finding_id: int | None = None) -> None:
        new = {*pairs, *((scheme, value) for scheme, value, _ in link_targets(record))}
        self.pairs |= new
        self.finding_ids.update(known.ids[p] for p in new if p in known.ids)
        if finding_id is not None:
            self.finding_ids.add(finding_id)

    def affects(self, known: Known, pairs: list[tuple[str, str]]) -> bool:
        return any(p in self.pairs or known.ids.get(p) in self.finding_ids for p in pairs)


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
        for name in ("kind", "title", "summary", "url", "status", "evidence", "details", "baseline"):
            setattr(keeper, name, getattr(other, name))
        keeper.placeholder = False
    elif not other.placeholder:
        keeper.baseline = keeper.baseline and other.baseline  # announced if either half was
    keeper.first_seen_at = min(keeper.first_seen_at, other.first_seen_at)
    session.flush()
    session.delete(other)
    session.flush()


def _duplicate_after_move(session: Session, model: type, row: Any, column: str,
                          keeper_id: int) -> bool:
    if model is FindingSource:
        return find_source_row(session, keeper_id, row.source) is not None
    if model is TopicMatch:
        return session.exec(select(TopicMatch).where(
            TopicMatch.finding_id == keeper_id, TopicMatch.topic == row.topic)).first() is not None
    if model is Link:
        src, dst = (keeper_id, row.dst_id) if column == "src_id" else (row.src_id, keeper_id)
        return src == dst or session.exec(select(Link).where(
            Link.src_id == src, Link.dst_id == dst, Link.relation == row.relation)).first() is not None
    return False


def find_source_row(session: Session, finding_id: int | None, source: str) -> FindingSource | None:
    return session.exec(select(FindingSource).where(
        FindingSource.finding_id == finding_id, FindingSource.source == source)).first()
