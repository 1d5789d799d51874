"""When `hccwatch serve` runs things: a poll every six hours on fixed marks (04:30, 10:30,
16:30 and 22:30 UTC), the digest weekly at the watchlist's weekday and hour in its timezone;
and the last finished poll, which decides whether serve polls at once when it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from store.models import PollRun
from store.vocab import aware

POLL_EVERY = timedelta(hours=6)
# The interval's marks count from here, as in prefect.yaml: 00:30, 06:30, 12:30 and 18:30 in
# Shanghai, so a poll finishes just before a 07:00 digest.
POLL_ANCHOR = datetime(2026, 1, 4, 16, 30, tzinfo=UTC)
RECENT_POLL = timedelta(hours=1)  # serve skips its first poll when one finished this recently
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def next_poll(now: datetime) -> datetime:
    """The first six-hour mark after `now`."""
    marks = (now - POLL_ANCHOR) // POLL_EVERY + 1
    return POLL_ANCHOR + marks * POLL_EVERY


def next_digest(weekday: str, hour: int, timezone: str, now: datetime) -> datetime:
    """The first `weekday` at `hour`:00 in `timezone` after `now` (aware, in that zone)."""
    local = now.astimezone(ZoneInfo(timezone))
    days = (WEEKDAYS.index(weekday) - local.weekday()) % 7
    due = (local + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return due if due > local else due + timedelta(days=7)


def last_poll_finished(session: Session) -> datetime | None:
    """When the last poll that ran to its end finished (UTC), or None."""
    finished = session.exec(select(PollRun.finished_at).where(col(PollRun.finished_at).is_not(None))
                            .order_by(col(PollRun.finished_at).desc())).first()
    return None if finished is None else aware(finished)


def polled_recently(session: Session, now: datetime) -> datetime | None:
    """The last poll's end when it is less than RECENT_POLL before `now`, else None."""
    finished = last_poll_finished(session)
    return finished if finished is not None and now - finished < RECENT_POLL else None


def local_text(moment: datetime, timezone: str) -> str:
    """A time as the family reads it: in the watchlist's timezone, named."""
    return f"{moment.astimezone(ZoneInfo(timezone)):%a %Y-%m-%d %H:%M} ({timezone})"


def next_runs(weekday: str, hour: int, timezone: str, now: datetime) -> dict[str, Any]:
    """The next poll and digest of `hccwatch serve`: ISO times and one line of text."""
    poll, digest = next_poll(now), next_digest(weekday, hour, timezone, now)
    return {"next_poll": poll.isoformat(), "next_digest": digest.isoformat(),
            "text": f"next poll {local_text(poll, timezone)}, then every 6 hours; "
                    f"next digest {local_text(digest, timezone)}"}
