"""The state a poll keeps per (source, query): the cursor the source gave, promoted only
together with the batch it covers, and when it last succeeded or failed (failures in a row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session

from store.db import utcnow
from store.models import SourceState, SourceWarning


def get_state(session: Session, *, source: str, query: str) -> SourceState:
    return session.get(SourceState, (source, query)) or SourceState(source=source, query=query)


def in_baseline(state: SourceState) -> bool:
    """Whether a (source, query) is still taking its baseline: its first poll, and the polls
    after it as long as none has completed (a partial first poll keeps no cursor and counts a
    failure). What a baseline finds was already known when watching began."""
    return state.last_success_at is None or (state.cursor is None and state.consecutive_failures > 0)


def mark_success(state: SourceState, *, at: datetime, count: int) -> None:
    state.last_attempt_at = at
    state.last_success_at = at
    state.last_error = None
    state.consecutive_failures = 0
    state.last_count = count


def record_failure(session: Session, *, source: str, query: str, at: datetime, error: str) -> None:
    """Note a failed (source, query) attempt without touching its cursor."""
    state = get_state(session, source=source, query=query)
    note_failure(state, at=at, error=error)
    session.add(state)


def note_failure(state: SourceState, *, at: datetime, error: str) -> None:
    state.last_attempt_at = at
    state.last_error = error[:1000]
    state.last_error_at = at
    state.consecutive_failures += 1


def commit_batch(state: SourceState, *, at: datetime, count: int, cursor: str | None,
                 error: str | None = None) -> None:
    """A batch of `count` records was stored: mark the success and promote the cursor. With
    `error` (part of the fetch failed) the cursor stays and the failure counts as one more
    in a row."""
    failures = state.consecutive_failures
    mark_success(state, at=at, count=count)
    if error is None:
        state.cursor = cursor
    else:
        state.consecutive_failures = failures
        note_failure(state, at=utcnow(), error=error)


def set_warnings(session: Session, *, source: str, query: str, warnings: list[str],
                 at: datetime) -> None:
    """What the upstream warned about on this (source, query)'s latest successful poll; the
    warnings of earlier polls go (a watchlist query that was fixed stops warning)."""
    session.execute(delete(SourceWarning).where(SourceWarning.source == source,
                                             SourceWarning.query == query))
    session.add_all(SourceWarning(source=source, query=query, message=message[:500], seen_at=at)
                    for message in dict.fromkeys(warnings))
