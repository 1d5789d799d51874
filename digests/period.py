"""The period a digest covers: an ISO week in the watchlist's time zone (2026-W47), and which
one a digest is for by default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from store.models import Finding
from store.vocab import aware

PERIOD_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period that is not an ISO week like 2026-W47, or one that has not started yet."""


@dataclass(frozen=True)
class Period:
    """An ISO week in the watchlist's timezone."""

    year: int
    week: int
    timezone: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> Period:
        match = PERIOD_RE.match(text.strip())
        if not match:
            raise PeriodError(f"expected an ISO week like 2026-W47, got {text!r}")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise PeriodError(f"{year} has no ISO week {week} (got {text!r})") from None
        return cls(year, week, timezone)

    @classmethod
    def containing(cls, moment: datetime, timezone: str) -> Period:
        year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
        return cls(year, week, timezone)

    @classmethod
    def last_complete(cls, timezone: str, now: datetime) -> Period:
        return cls.containing(now - timedelta(days=7), timezone)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 local time, as UTC."""
        return datetime.combine(self.first_day, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 local time, as UTC (exclusive)."""
        next_monday = self.first_day + timedelta(days=7)
        return datetime.combine(next_monday, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    def local(self, moment: datetime) -> datetime:
        return aware(moment).astimezone(ZoneInfo(self.timezone))


def default_period(session: Session, timezone: str, now: datetime) -> Period:
    """The last complete week, unless watching began after it ended (a fresh install): then
    this week, so the first digest carries what was found instead of an empty last week."""
    last = Period.last_complete(timezone, now)
    began = session.exec(select(func.min(Finding.first_seen_at))).one()
    return Period.containing(now, timezone) if began is None or aware(began) >= last.end else last
