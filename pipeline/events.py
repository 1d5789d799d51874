"""Progress of a poll as one typed event: what the terminal shows, the web's ad-hoc jobs count
and the Prefect flow logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sources.http import OFFLINE
from store.ingest import BatchResult
from store.vocab import SOURCE_NAMES

Stage = Literal["poll_started", "task_started", "page", "task_done", "task_failed", "poll_done"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a poll. Task events name the task's source and query (`label`); a page
    says how many records the task has so far (and the total the API reported, if any)."""

    stage: Stage
    source: str = ""
    label: str = ""
    page: int = 0
    records: int = 0
    total: int | None = None
    result: BatchResult | None = None
    error: str = ""
    reason: str = ""  # task_failed: what went wrong in plain words, with the source's name
    tasks: int = 0  # poll_started: how many tasks the poll runs

    @property
    def row(self) -> str:
        """What a live display keeps one line for: the task, or the poll itself."""
        return f"{self.source}/{self.label}" if self.source else self.stage

    def line(self) -> str | None:
        """The event as one line of text (None for events not worth a line)."""
        if self.stage == "poll_started":
            return f"polling {self.tasks} source queries"
        if self.stage == "task_started":
            return f"{self.source} {self.label}: fetching"
        if self.stage == "page":
            total = f" of {self.total}" if self.total else ""
            return f"{self.source} {self.label}: page {self.page}, {self.records}{total} records"
        if self.stage == "task_done" and self.result is not None:
            r = self.result
            return (f"{self.source} {self.label}: {r.fetched} fetched, {r.new} new, "
                    f"{r.updated} updated, {r.changes} changes")
        if self.stage == "task_failed":
            return f"FAILED {self.error}"
        return None


Progress = Callable[[ProgressEvent], None]


def source_failure(source: str, reason: str) -> str:
    """A source's failure in plain words: "ClinicalTrials.gov answered 503", "PubMed: no
    internet connection" (`reason` is a SourceError's)."""
    name = SOURCE_NAMES.get(source) or source.removeprefix("feed:")
    return f"{name}: {reason}" if reason == OFFLINE else f"{name} {reason}"


def ignore(_event: ProgressEvent) -> None:
    """A progress callback for callers that show nothing."""

