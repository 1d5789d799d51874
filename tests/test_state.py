"""The per-(source, query) state on its own: a cursor moves only with a stored batch, a
failure never moves it, and failures in a row are counted until the next success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.db import session_scope
from store.models import SourceState
from store.state import commit_batch, get_state, record_failure

T0 = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def commit(engine, *, cursor, error=None, at=T0, count=3):
    with session_scope(engine) as session:
        state = get_state(session, source="pubmed", query="hcc")
        commit_batch(state, at=at, count=count, cursor=cursor, error=error)
        session.add(state)


def fail(engine, error, *, at=T0):
    with session_scope(engine) as session:
        record_failure(session, source="pubmed", query="hcc", at=at, error=error)


def stored(engine) -> SourceState:
    with session_scope(engine, write=False) as session:
        return session.get(SourceState, ("pubmed", "hcc"))


def test_unknown_pair_starts_without_a_cursor(engine):
    with session_scope(engine, write=False) as session:
        state = get_state(session, source="pubmed", query="never polled")
    assert state.cursor is None and state.consecutive_failures == 0


def test_a_stored_batch_promotes_its_cursor_and_marks_success(engine):
    commit(engine, cursor="2026-11-16", count=7)
    state = stored(engine)
    assert state.cursor == "2026-11-16" and state.last_count == 7
    assert state.last_success_at == T0.replace(tzinfo=None) or state.last_success_at == T0
    assert state.last_error is None


def test_a_partly_failed_batch_keeps_the_cursor_and_counts_failures_in_a_row(engine):
    commit(engine, cursor="2026-11-01")
    fail(engine, "HTTP 503", at=T0 + timedelta(hours=6))
    commit(engine, cursor="2026-11-16", error="batch 2 unreadable", at=T0 + timedelta(hours=12))
    state = stored(engine)
    assert state.cursor == "2026-11-01"
    assert state.consecutive_failures == 2 and state.last_error == "batch 2 unreadable"


def test_success_after_failures_resets_the_count(engine):
    fail(engine, "HTTP 503")
    fail(engine, "HTTP 503")
    commit(engine, cursor="2026-11-16", at=T0 + timedelta(days=1))
    state = stored(engine)
    assert state.consecutive_failures == 0 and state.last_error is None
    assert state.cursor == "2026-11-16"


def test_a_failure_never_touches_the_cursor_and_keeps_a_bounded_message(engine):
    commit(engine, cursor="2026-11-01")
    fail(engine, "x" * 5000)
    state = stored(engine)
    assert state.cursor == "2026-11-01" and len(state.last_error) == 1000
    assert state.consecutive_failures == 1
