"""Judgements of stored findings: after each ingested batch, the relevance to this patient of
every finding the batch touched (assess.relevance) and, for trials, the eligibility pre-screen
when a patient is known, written back in the batch's transaction. A changed verdict is recorded
as a Change ("eligibility"); all findings are judged again when the watchlist's judgement
inputs change (topics, weights, patient, places; their hash is kept in the store) and once a
week (recency fades), every trial's sites in the watched places found again first."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import or_
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from assess.relevance import (
    RECENT_CHANGE_DAYS,
    ChangeFact,
    RelevanceContext,
    RelevanceFacts,
    Why,
    score,
)
from sources.matching import PlaceSpec, watched_sites
from sources.records import Contact, Location, Record
from store.models import Change, Finding, JudgementState
from store.queries import first_carried
from store.vocab import aware

log = logging.getLogger("hccwatch.judge")
JUDGE_VERSION = 1  # raise when the rules change: every stored judgement is then made again
REJUDGE_EVERY = timedelta(days=7)
STATE_NAME = "findings"
CHUNK = 500
NEWLY_FITS = "may_fit"  # the significance of a Change to the verdict may_fit


class Verdict(Protocol):
    """What an eligibility screen returns (assess.eligibility.Eligibility)."""

    verdict: str

    def to_json(self) -> dict[str, Any]: ...


# (trial details with its title, *, today) -> the pre-screen for the watchlist's patient
Screen = Callable[..., Verdict]


@dataclass(frozen=True)
class Judges:
    """The judgement inputs of one watchlist: its relevance context and, when the watchlist
    describes a patient, the eligibility screen for that patient (`patient` is its text form,
    part of the inputs hash)."""

    relevance: RelevanceContext
    screen: Screen | None = None
    patient: str = ""
    places: tuple[PlaceSpec, ...] = ()

    @property
    def inputs_hash(self) -> str:
        text = f"{JUDGE_VERSION}|{self.relevance!r}|{self.screen is not None}|{self.patient}|{self.places!r}"
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class _Row:
    """One finding as the judges need it."""

    id: int
    kind: str
    details: dict[str, Any]
    facts: dict[str, Any]
    verdict: str | None
    topics: Mapping[str, Sequence[str]] | None = None  # None: read from the store


# Read with the driver, not the ORM (building ORM rows cost more than judging them), and only
# the details relevance reads (SQLite parses the JSON once for all paths); with a screen, a
# trial's whole details (its criteria) too.
DETAIL_KEYS = ("publication_types", "mesh", "keywords", "conditions", "entrez_date", "epub_date",
               "first_index_date", "first_posted", "start_date")
_PATHS = ", ".join(f"'$.{key}'" for key in DETAIL_KEYS)


def _select(screening: bool) -> str:
    whole = "CASE WHEN kind = 'trial' THEN details END" if screening else "NULL"
    return (f"SELECT id, kind, title, title_alt, summary, evidence, status, phases, published, watched_sites, "
            f"json_extract(details, {_PATHS}), {whole}, eligibility_verdict "
            "FROM finding WHERE placeholder = 0 AND id IN ({marks})")


_TOPICS = "SELECT finding_id, topic, terms FROM topicmatch WHERE finding_id IN ({marks})"


class Fresh:
    """store.ingest.Inserted for the judges: the findings a batch inserted whole from one
    Record each, as the judges read them. Judged from these, not read back: they hold the
    stored values, and such a finding has no topic but the Record's, no change, no verdict yet,
    and no digest carried it. Kept slim, and for one page at a time: holding a whole
    20,000-article batch (Records or rows) costs the ingest more than reading it back."""

    def __init__(self) -> None:
        self.rows: dict[int, _Row] = {}

    def add(self, finding_id: int, record: Record) -> None:
        self.rows[finding_id] = _from_record(finding_id, record)

    def clear(self) -> None:
        self.rows.clear()


def judge_findings(session: Session, finding_ids: Iterable[int], judges: Judges, *, now: datetime,
                   fresh: Fresh | None = None) -> int:
    """Judge these findings (placeholders are skipped) and write the judgements back; the
    caller commits. Those in `fresh` are judged from it. Returns how many were judged."""
    session.flush()  # the rows are read with the driver, which sees only what was flushed
    ids = sorted(set(finding_ids))
    judged = 0
    for start in range(0, len(ids), CHUNK):
        judged += _judge_chunk(session, ids[start:start + CHUNK], judges, now, fresh.rows if fresh else {})
    return judged


def _judge_chunk(session: Session, ids: list[int], judges: Judges, now: datetime,
                 fresh: Mapping[int, _Row]) -> int:
    stored = [i for i in ids if i not in fresh]
    rows = _read(session, stored, judges) + [fresh[i] for i in ids if i in fresh]
    if not rows:
        return 0
    topics, changes, carried = _stored_context(session, stored, now)
    updates = []
    for row in rows:
        eligibility = _screen(row, judges, now.date())
        verdict = eligibility.verdict if eligibility is not None else row.verdict
        if eligibility is not None and row.verdict is not None and verdict != row.verdict:
            change = _verdict_change(row, verdict, now)
            session.add(change)
            changes[row.id].append(ChangeFact(change.field, change.new, change.significance, now.date()))
        facts = RelevanceFacts.build(**row.facts, details=row.details,
                                     topics=topics.get(row.id, {}) if row.topics is None else row.topics,
                                     eligibility=verdict, carried=row.id in carried,
                                     changes=changes.get(row.id, ()))
        updates.append(_update(row.id, score(facts, judges.relevance, today=now.date()), eligibility))
    _write(session, updates)
    return len(rows)


def _read(session: Session, ids: list[int], judges: Judges) -> list[_Row]:
    if not ids:
        return []
    return [_Row(r[0], r[1], _details(r[10], r[11]), _fields(r), r[12])
            for r in _driver_rows(session, _select(judges.screen is not None), ids)]


def _from_record(finding_id: int, record: Record) -> _Row:
    """A finding just inserted from `record`, as the store holds it (store.upsert.fill) and
    _read reads it: a trial's whole details (its criteria), else the keys relevance reads."""
    fields = {"kind": record.kind, "title": record.title, "title_alt": record.title_alt,
              "summary": record.summary, "evidence": record.evidence, "status": record.status,
              "phases": record.phases, "published": record.published,
              "watched_sites": record.watched_sites}
    details = record.details if record.kind == "trial" else \
        {key: record.details[key] for key in DETAIL_KEYS if key in record.details}
    return _Row(finding_id, record.kind, details, fields, None, record.topics)


def _stored_context(session: Session, ids: list[int], now: datetime) -> tuple[
        dict[int, dict[str, list[str]]], dict[int, list[ChangeFact]], set[int]]:
    """The stored findings' topics, recent changes, and whether a sent digest carried them."""
    if not ids:
        return {}, defaultdict(list), set()
    return _topics(session, ids), _changes(session, ids, now), set(first_carried(session, ids))


def _fields(row: Sequence[Any]) -> dict[str, Any]:
    return {"kind": row[1], "title": row[2], "title_alt": row[3], "summary": row[4], "evidence": row[5],
            "status": row[6], "phases": _json(row[7], ()), "published": row[8],
            "watched_sites": _json(row[9], ())}


def _driver_rows(session: Session, sql: str, ids: list[int]) -> Any:
    return session.connection().exec_driver_sql(sql.format(marks=",".join("?" * len(ids))), tuple(ids))


def _details(extracted: str | None, whole: str | None) -> dict[str, Any]:
    """The whole details of a trial, else the few keys relevance reads."""
    if whole:
        return json.loads(whole)
    return dict(zip(DETAIL_KEYS, _json(extracted, ()), strict=False))


def _json(text: str | None, empty: Any) -> Any:
    """A JSON column's value; most list columns hold '[]', which needs no parsing."""
    if not text or text in ("[]", "{}", "null"):
        return empty
    return json.loads(text)


def _screen(row: _Row, judges: Judges, today: date) -> Verdict | None:
    """The trial's pre-screen; a screen that trips over one trial's text costs that trial its
    new verdict (the old one stays, the reason is logged), never the batch."""
    if judges.screen is None or row.kind != "trial":
        return None
    try:
        return judges.screen({**row.details, "title": row.facts["title"]}, today=today)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        log.warning("eligibility of finding %s not screened: %s", row.id, error)
        return None


def _verdict_change(row: _Row, verdict: str, now: datetime) -> Change:
    """A Change of verdict; significant when the trial newly may fit."""
    return Change(finding_id=row.id, field="eligibility", old=row.verdict, new=verdict, seen_at=now,
                  significance=NEWLY_FITS if verdict == NEWLY_FITS else "minor")


def _topics(session: Session, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for finding_id, topic, terms in _driver_rows(session, _TOPICS, ids):
        found[finding_id][topic] = _json(terms, [])
    return found


def _changes(session: Session, ids: list[int], now: datetime) -> dict[int, list[ChangeFact]]:
    """Significant changes of the last RECENT_CHANGE_DAYS, and retractions whenever seen."""
    since = now - timedelta(days=RECENT_CHANGE_DAYS)
    found: dict[int, list[ChangeFact]] = defaultdict(list)
    for finding_id, field, new, significance, seen_at in session.exec(
            select(Change.finding_id, Change.field, Change.new, Change.significance, Change.seen_at)
            .where(col(Change.finding_id).in_(ids), Change.significance != "minor",
                   or_(Change.seen_at >= since, Change.significance == "retraction"))):
        found[finding_id].append(ChangeFact(field, new, significance, seen_at.date()))
    return found


def _update(finding_id: int, relevance: Any, eligibility: Verdict | None) -> tuple[Any, ...]:
    why = "[" + ", ".join([_why_json(w.en, w.zh) for w in relevance.why]) + "]"  # json.dumps of the list
    if eligibility is None:
        return relevance.score, why, finding_id
    return (relevance.score, why, json.dumps(eligibility.to_json(), ensure_ascii=False),
            eligibility.verdict, finding_id)


@lru_cache(maxsize=4096)
def _why_json(en: str, zh: str) -> str:
    """One reason (Why) as JSON; most recur from finding to finding ("HCC paper", "review")."""
    return json.dumps(Why(en, zh).to_json(), ensure_ascii=False)


def _write(session: Session, updates: list[tuple[Any, ...]]) -> None:
    """One executemany per shape: screened trials (5 values) and everything else (3)."""
    for width, columns in ((5, "relevance = ?, why = ?, eligibility = ?, eligibility_verdict = ?"),
                           (3, "relevance = ?, why = ?")):
        rows = [u for u in updates if len(u) == width]
        if rows:
            session.connection().exec_driver_sql(f"UPDATE finding SET {columns} WHERE id = ?", rows)


def rejudge_if_changed(session: Session, judges: Judges, *, now: datetime) -> int:
    """Judge every stored finding again if the judgement inputs differ from those the stored
    judgements were made from, or if that was over a week ago. Returns how many were judged."""
    state = session.get(JudgementState, STATE_NAME)
    fresh = state is not None and state.inputs_hash == judges.inputs_hash and \
        aware(state.judged_at) > aware(now) - REJUDGE_EVERY
    if fresh:
        return 0
    ids = list(session.exec(select(Finding.id).where(Finding.placeholder == False)))  # noqa: E712
    find_watched_sites(session, judges.places)
    judged = judge_findings(session, ids, judges, now=now)
    state = state or JudgementState(name=STATE_NAME, inputs_hash="", judged_at=now)
    state.inputs_hash, state.judged_at = judges.inputs_hash, now
    session.add(state)
    return judged


def find_watched_sites(session: Session, places: Sequence[PlaceSpec]) -> None:
    """Every stored trial's sites in the watched places, found again from its stored locations
    (the places may have changed since it was polled). Not a change of the trial: no Change."""
    trials = session.exec(select(Finding).where(Finding.kind == "trial", Finding.placeholder == False)  # noqa: E712
                          .options(load_only(Finding.id, Finding.locations, Finding.watched_sites)))
    for trial in trials:
        sites = watched_sites([_location(loc) for loc in trial.locations or []], places)
        if sites != (trial.watched_sites or []):
            trial.watched_sites = sites
            session.add(trial)


def _location(stored: dict[str, Any]) -> Location:
    contacts = [Contact(**{k: c.get(k) for k in ("name", "role", "phone", "email")})
                for c in stored.get("contacts") or []]
    return Location(**{k: stored.get(k) for k in ("facility", "city", "state", "country", "status")},
                    contacts=contacts)
