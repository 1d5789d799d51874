"""Ad-hoc searches started from the web page: each runs in a background thread while its
progress page (refreshing itself, no JavaScript needed) shows per-source counts."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.db import utcnow
from store.errors import ConfigError

log = logging.getLogger("hccwatch.web")
MAX_KEPT = 50

# The poll's progress callback; it is handed pipeline.events.ProgressEvent objects (read here
# by their fields: stage, source, records, result, error).
Progress = Callable[[Any], None]
# runner(term, sources, progress) -> (topic id, {source: reason it could not run})
Runner = Callable[[str, list[str], Progress], tuple[str, dict[str, str]]]


@dataclass
class SourceProgress:
    state: str = "waiting"  # waiting | running | done | failed | unavailable
    records: int = 0
    new: int = 0
    updated: int = 0
    message: str = ""
    detail: str = ""


@dataclass
class Job:
    id: str
    term: str
    topic_id: str
    sources: dict[str, SourceProgress]
    state: str = "running"  # running | done | failed
    error: str = ""
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def progress(self, event: Any) -> None:
        """The poll's progress callback: keep per-source counts up to date."""
        source = self.sources.get(event.source)
        if source is None:
            return
        if event.stage == "task_started":
            source.state = "running"
        elif event.stage == "page":
            source.records = event.records
        elif event.stage == "task_done":
            result = event.result
            source.state, source.records = "done", result.fetched
            source.new, source.updated = result.new, result.updated
        elif event.stage == "task_failed":
            source.state = "failed"
            source.message, source.detail = event.reason or event.error, event.error

    @property
    def failures(self) -> list[str]:
        """What went wrong, in plain words, for each source that failed."""
        return [p.message for p in self.sources.values() if p.state == "failed"]


class Jobs:
    """The ad-hoc searches of this server process, newest first."""

    def __init__(self, runner: Runner):
        self.runner = runner
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def start(self, term: str, topic_id: str, sources: list[str]) -> Job:
        """Start a search, or return the one already running for the same term."""
        with self._lock:
            for job in self._jobs.values():
                if job.topic_id == topic_id and job.running:
                    return job
            job = Job(secrets.token_urlsafe(9), term, topic_id,
                      {s: SourceProgress() for s in sources})
            self._jobs[job.id] = job
            self._forget_old()
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"adhoc-{job.id}").start()
        return job

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if not j.running), key=lambda j: j.started_at)
        for job in finished[: max(0, len(self._jobs) - MAX_KEPT)]:
            del self._jobs[job.id]

    def _run(self, job: Job) -> None:
        try:
            job.topic_id, unavailable = self.runner(job.term, list(job.sources), job.progress)
            for source, reason in unavailable.items():
                job.sources[source] = SourceProgress("unavailable", message=reason)
            job.state = "done"
        except (ConfigError, ValueError) as error:
            job.state, job.error = "failed", str(error)
        except Exception:  # noqa: BLE001  the browser gets a plain sentence, the log the traceback
            log.exception("ad-hoc search for %r failed", job.term)
            job.state, job.error = "failed", "the search failed unexpectedly; the server log says why"
        finally:
            job.finished_at = utcnow()
