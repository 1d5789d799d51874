"""What a digest reads from the store besides what digests/choose.py gathers: the rows behind
the shown cards, the findings linked to them, and per-source health in the period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from digests.labels import one_line, source_name
from digests.model import Mention, SourceHealth
from digests.period import Period
from store.models import Finding, PollRun, SourceState
from store.queries import linked, source_warnings
from store.vocab import aware, minute_text, safe_url


def by_ids(session: Session, model: Any, ids: Sequence[int]) -> list[Any]:
    ids = sorted(set(ids))
    return [row for start in range(0, len(ids), 500)
            for row in session.exec(select(model).where(col(model.id).in_(ids[start:start + 500])))]


def mentions(session: Session, findings: Sequence[Finding]) -> dict[int, list[Mention]]:
    """Per finding: for a trial, the papers and news naming it; for a paper or news item, the
    trials it names. One query per chunk of findings, not one per finding."""
    trials = [f.id for f in findings if f.kind == "trial"]
    others = [f.id for f in findings if f.kind != "trial"]
    found: dict[int, list[Mention]] = defaultdict(list)
    for ids, incoming, kind in ((trials, True, None), (others, False, "trial")):
        for finding_id, pairs in linked(session, ids, incoming=incoming, kind=kind).items():
            found[finding_id] = [Mention(other.key, safe_url(other.url),
                                         "" if other.placeholder else one_line(other.title, 120))
                                 for _relation, other in pairs]
    return found


def source_health(session: Session, period: Period) -> list[SourceHealth]:
    """Per source: last success, polls and failures during the period."""
    polls: dict[str, int] = defaultdict(int)
    failures: dict[str, int] = defaultdict(int)
    for run in session.exec(select(PollRun).where(PollRun.started_at >= period.start,
                                                  PollRun.started_at < period.end)):
        for source, counts in (run.counts or {}).items():
            polls[source] += 1
            failures[source] += int((counts or {}).get("errors") or 0)
    states: dict[str, list[SourceState]] = defaultdict(list)
    for state in session.exec(select(SourceState).order_by(col(SourceState.source))):
        states[state.source].append(state)
    warned = source_warnings(session)
    health = [_health(source, rows, period, polls[source], failures[source], warned)
              for source, rows in states.items()]
    return sorted(health, key=lambda h: h.source)


def _health(source: str, rows: list[SourceState], period: Period, polls: int,
            failures: int, warned: dict[tuple[str, str], list[str]]) -> SourceHealth:
    successes = [aware(r.last_success_at) for r in rows if r.last_success_at]
    errors = [r for r in rows if r.last_error_at and period.start <= aware(r.last_error_at) < period.end]
    if any(period.start <= s < period.end for s in successes):
        polls = max(polls, 1)
    last = max(successes, default=None)
    return SourceHealth(
        source=source_name(source),
        last_success=minute_text(period.local(last)) if last else None,
        polls=polls, failures=max(failures, 1 if errors else 0),
        warnings=tuple(f"{w} in topic {r.query}" for r in rows for w in warned.get((source, r.query), ())))
