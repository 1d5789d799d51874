"""Quiet hours (`[alerts] quiet_hours = "22:00-07:00"` in the watchlist's timezone): alerts
found then are held until they end. The window may cross midnight; equal ends mean none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    timezone: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> QuietHours:
        """`22:00-07:00` (already checked by the watchlist loader) in `timezone`."""
        start, end = (time.fromisoformat(part) for part in text.split("-"))
        return cls(start, end, timezone)

    @property
    def text(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours `now` falls in end (aware, in the watchlist's timezone); None
        when `now` is not in quiet hours."""
        local = now.astimezone(ZoneInfo(self.timezone))
        clock = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return None
        crosses = self.start > self.end
        inside = (clock >= self.start or clock < self.end) if crosses else self.start <= clock < self.end
        if not inside:
            return None
        day = local.date() + timedelta(days=1 if crosses and clock >= self.start else 0)
        return datetime.combine(day, self.end, tzinfo=local.tzinfo)
