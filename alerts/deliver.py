"""After a poll: record an alert for each trial or paper whose new changes cannot wait (one per
finding, naming all its changes), then send every alert still due to each destination, unless
it is quiet hours (then they wait for the first poll after). A destination that fails keeps
its alerts pending for the next poll and is not tried again in this one, so a dead destination
costs one bounded timeout per poll; nothing here raises into the poll (the caller catches)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from alerts import ledger
from alerts.choose import drafts
from alerts.destinations import Destination
from alerts.quiet import QuietHours
from alerts.send import hand_over
from alerts.text import TEST_BODY, TEST_TITLE
from store.db import session_scope
from store.health import alert_health

MAX_PER_RUN = 20  # per destination and poll; the rest go with the next poll


@dataclass
class AlertRun:
    """What one round of alerting did."""

    destinations: int = 0  # usable ones
    recorded: int = 0
    sent: int = 0
    failed: int = 0  # hand-overs refused this round (their alerts stay pending)
    given_up: int = 0
    waiting: int = 0  # deliveries still unsent afterwards, to configured destinations
    held_until: datetime | None = None
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """`alerts: 1 new, 1 sent, 0 waiting` (and why some wait)."""
        if not self.destinations and not self.problems:
            return (f"alerts: {self.recorded} new, recorded only: no HCCWATCH_ALERT_URLS set "
                    f"(see `hccwatch alerts`)")
        parts = [f"{self.recorded} new", f"{self.sent} sent"]
        if self.failed:
            parts.append(f"{self.failed} refused (retried at the next poll): {'; '.join(self.errors)}")
        parts.append(f"{self.waiting} waiting")
        if self.held_until is not None and self.waiting:
            parts.append(f"held by quiet hours until {self.held_until:%H:%M}")
        if self.given_up:
            parts.append(f"{self.given_up} given up after a week unsent")
        parts += [f"not sent to one destination: {problem}" for problem in self.problems]
        return "alerts: " + ", ".join(parts)


def after_poll(engine: Engine, destinations: Sequence[Destination], kinds: Collection[str],
               quiet: QuietHours, *, now: datetime, timeout: float) -> AlertRun:
    """Record the alerts the changes seen so far call for, then send what is due."""
    usable = [(d.key, d.label) for d in destinations if not d.problem]
    with session_scope(engine) as session:
        recorded = ledger.record(session, drafts(session, kinds, now), usable, now)
    run = AlertRun(destinations=len(usable), recorded=len(recorded),
                   problems=[d.problem for d in destinations if d.problem])
    return send_due(engine, destinations, quiet, now=now, timeout=timeout, run=run)


def send_due(engine: Engine, destinations: Sequence[Destination], quiet: QuietHours, *,
             now: datetime, timeout: float, run: AlertRun | None = None) -> AlertRun:
    """Send every delivery due to each usable destination (none in quiet hours)."""
    run = run or AlertRun()
    with session_scope(engine) as session:
        run.given_up = ledger.give_up(session, now)
    run.held_until = quiet.until(now)
    if run.held_until is None:
        for destination in destinations:
            if not destination.problem:
                send_to(engine, destination, now=now, timeout=timeout, run=run)
    keys = {d.key for d in destinations}
    with session_scope(engine, write=False) as session:
        run.waiting = sum(d["pending"] for d in alert_health(session) if d["id"] in keys)
    return run


def send_to(engine: Engine, destination: Destination, *, now: datetime, timeout: float,
            run: AlertRun) -> None:
    """Claim, hand over and mark each due delivery in turn; stop at the first refusal."""
    with session_scope(engine, write=False) as session:
        ids = [d.id for d in ledger.due(session, destination.key, now, MAX_PER_RUN)]
    for delivery_id in ids:
        with session_scope(engine) as session:
            alert = ledger.claim(session, delivery_id, now)
        if alert is None:
            continue
        error = hand_over(destination, alert.title, alert.body, timeout=timeout)
        with session_scope(engine) as session:
            if error is None:
                ledger.mark_sent(session, delivery_id, now)
            else:
                ledger.mark_failed(session, delivery_id, error)
        if error is not None:
            run.failed += 1
            run.errors.append(f"{destination.label}: {error}")
            return
        run.sent += 1


def send_test(destinations: Sequence[Destination], *, timeout: float) -> list[tuple[Destination, str | None]]:
    """One test alert to every destination (quiet hours and the ledger left alone): each with
    None when it was accepted, else why not."""
    return [(d, hand_over(d, TEST_TITLE, TEST_BODY, timeout=timeout)) for d in destinations]
