"""The alert ledger (store.models Alert, AlertChange, AlertDelivery), kept like the digest's:
an alert and one delivery per destination are recorded pending; a delivery is claimed
("sending") in its own write transaction just before it is handed to the destination, and
marked sent only after the destination accepted it. So each alert reaches each destination
once: two pollers never both send it (the claim), a failure leaves it pending for the next
poll, and a process killed between handing over and marking can send it once more (a claim
older than LEASE is taken again)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, insert, or_, select, update

from alerts.choose import Draft
from alerts.text import compose
from store.db import iso
from store.models import Alert, AlertChange, AlertDelivery, Finding

LEASE = timedelta(minutes=5)  # longer than one hand-over can take (bounded timeouts)
GIVE_UP = timedelta(days=7)  # by then the weekly digest has carried it
ERROR_CHARS = 300


def record(session: Session, drafts: Sequence[Draft], destinations: Sequence[tuple[str, str]],
           now: datetime) -> list[int]:
    """One Alert per Draft, the changes it names, and a pending delivery to each destination
    (key, label); returns the new alerts' ids."""
    ids = []
    for draft in drafts:
        title, body = compose(draft)
        alert = Alert(finding_id=draft.finding.id, kinds=draft.kinds, title=title, body=body,
                      created_at=now)
        session.add(alert)
        session.flush()
        if draft.changes:
            session.execute(insert(AlertChange), [{"change_id": change.id, "alert_id": alert.id}
                                                  for change, _ in draft.changes])
        if destinations:
            session.execute(insert(AlertDelivery), [
                {"alert_id": alert.id, "destination": key, "label": label, "status": "pending",
                 "attempts": 0} for key, label in destinations])
        ids.append(alert.id)
    return ids


def due(session: Session, destination: str, now: datetime, limit: int) -> list[AlertDelivery]:
    """The deliveries to `destination` waiting to be sent (pending, or a claim older than
    LEASE), oldest first."""
    return list(session.exec(select(AlertDelivery).where(*_due(destination, now))
                             .order_by(col(AlertDelivery.id)).limit(limit)))


def _due(destination: str, now: datetime) -> tuple[Any, ...]:
    stale = (AlertDelivery.status == "sending") & (col(AlertDelivery.last_attempt_at) < now - LEASE)
    return (AlertDelivery.destination == destination,
            or_(AlertDelivery.status == "pending", stale))


def claim(session: Session, delivery_id: int, now: datetime) -> Alert | None:
    """Take one delivery for sending (None: another process took it or it was sent)."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:
        return None
    taken = session.execute(update(AlertDelivery)
                            .where(col(AlertDelivery.id) == delivery_id,
                                   *_due(delivery.destination, now))
                            .values(status="sending", last_attempt_at=now,
                                    attempts=AlertDelivery.attempts + 1))
    return session.get(Alert, delivery.alert_id) if taken.rowcount == 1 else None


def mark_sent(session: Session, delivery_id: int, now: datetime) -> None:
    session.execute(update(AlertDelivery).where(col(AlertDelivery.id) == delivery_id)
                 .values(status="sent", sent_at=now, last_error=None))


def mark_failed(session: Session, delivery_id: int, error: str) -> None:
    """Back to pending, with why (already scrubbed of the destination's secrets)."""
    session.execute(update(AlertDelivery).where(col(AlertDelivery.id) == delivery_id)
                 .values(status="pending", last_error=error[:ERROR_CHARS]))


def give_up(session: Session, now: datetime) -> int:
    """Deliveries of alerts older than GIVE_UP that were never sent become failed (their last
    error kept); returns how many."""
    old = select(Alert.id).where(Alert.created_at < now - GIVE_UP)
    result = session.execute(update(AlertDelivery)
                          .where(col(AlertDelivery.status).in_(("pending", "sending")),
                                 col(AlertDelivery.alert_id).in_(old))
                          .values(status="failed"))
    return result.rowcount or 0


def recent(session: Session, limit: int) -> list[dict[str, Any]]:
    """The latest alerts, newest first, each with its finding's key and its deliveries."""
    rows = session.exec(select(Alert, Finding.key).join(Finding, col(Finding.id) == Alert.finding_id)
                        .order_by(col(Alert.id).desc()).limit(limit)).all()
    sent_to: dict[int, list[dict[str, Any]]] = {alert.id: [] for alert, _ in rows}
    for row in session.exec(select(AlertDelivery).where(col(AlertDelivery.alert_id).in_(list(sent_to)))
                            .order_by(col(AlertDelivery.id))):
        sent_to[row.alert_id].append({
            "destination": row.label, "status": "pending" if row.status == "sending" else row.status,
            "attempts": row.attempts, "sent_at": iso(row.sent_at), "last_error": row.last_error})
    return [{"id": alert.id, "key": key, "kinds": alert.kinds, "title": alert.title,
             "text": alert.body, "created_at": iso(alert.created_at), "deliveries": sent_to[alert.id]}
            for alert, key in rows]
