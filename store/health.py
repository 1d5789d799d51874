"""Source health as stored: per source and query the last success, last error and failures in a
row, the last poll and what is stored, and per alert destination what was sent, what waits
and the last error. Read by `hccwatch status`, `hccwatch alerts` and the web status page."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from store.db import iso
from store.models import (
    ADHOC_TOPIC_PREFIX,
    AlertDelivery,
    Change,
    Finding,
    PollRun,
    SourceState,
)
from store.queries import source_warnings


def health(session: Session) -> dict[str, Any]:
    """Per source and query: last success, last error, failures in a row, what the upstream
    warned about (PubMed ignoring a term); plus the last poll. Ad-hoc searches keep their own
    state: their failures never make a watched source failing."""
    sources: dict[str, dict[str, Any]] = {}
    warnings = source_warnings(session)
    watched = select(SourceState).where(~col(SourceState.query).startswith(ADHOC_TOPIC_PREFIX))
    for state in session.exec(watched.order_by(SourceState.source, SourceState.query)):
        entry = sources.setdefault(state.source, {"source": state.source, "queries": [],
                                                  "last_success_at": None, "failing": 0,
                                                  "warnings": 0})
        entry["queries"].append({
            "query": state.query, "cursor": state.cursor,
            "last_success_at": iso(state.last_success_at),
            "last_error": state.last_error, "last_error_at": iso(state.last_error_at),
            "consecutive_failures": state.consecutive_failures, "last_count": state.last_count,
            "warnings": warnings.get((state.source, state.query), []),
        })
        entry["warnings"] += len(entry["queries"][-1]["warnings"])
        if state.last_success_at and (entry["last_success_at"] is None
                                      or iso(state.last_success_at) > entry["last_success_at"]):
            entry["last_success_at"] = iso(state.last_success_at)
        entry["failing"] += 1 if state.consecutive_failures else 0
    last = session.exec(select(PollRun).order_by(col(PollRun.id).desc())).first()
    counts = dict(session.exec(select(Finding.kind, func.count()).where(
        Finding.placeholder == False).group_by(Finding.kind)).all())  # noqa: E712
    return {
        "sources": list(sources.values()),
        "last_poll": None if last is None else {
            "started_at": iso(last.started_at), "finished_at": iso(last.finished_at),
            "ok": last.ok, "counts": last.counts, "errors": last.errors,
            "interrupted": last.finished_at is None,
        },
        "findings": counts,
        "changes": session.exec(select(func.count()).select_from(Change)).one(),
        "alerts": alert_health(session),
    }


def alert_health(session: Session) -> list[dict[str, Any]]:
    """Per alert destination (by its masked label and the hash `id` of its URL): deliveries
    pending (not sent yet, being sent included), sent and failed (given up), the last sent
    and the last error of one not sent."""
    found: dict[str, dict[str, Any]] = {}
    rows = session.exec(select(AlertDelivery).order_by(col(AlertDelivery.id)))
    for row in rows:
        entry = found.setdefault(row.destination, {
            "destination": row.label, "id": row.destination, "pending": 0, "sent": 0,
            "failed": 0, "last_sent_at": None, "last_error": None, "last_error_at": None})
        entry["destination"] = row.label
        entry["pending" if row.status in ("pending", "sending") else row.status] += 1
        if row.sent_at and (entry["last_sent_at"] is None or iso(row.sent_at) > entry["last_sent_at"]):
            entry["last_sent_at"] = iso(row.sent_at)
        if row.last_error and row.status != "sent":
            entry["last_error"], entry["last_error_at"] = row.last_error, iso(row.last_attempt_at)
    return sorted(found.values(), key=lambda e: e["destination"])
