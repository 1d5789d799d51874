"""The App every command and flow works on: settings, watchlist and database, each loaded on
first use; the one way a poll is planned and run over them (the CLI and the Prefect flow
differ only in the task runner and the progress display they pass), followed by the immediate
alerts it calls for, and what the digest's delivery is handed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from hccwatch.settings import ConfigError, Settings, load_settings
from hccwatch.watchlist import Watchlist, load_watchlist
from store.db import StoreError, open_engine, session_scope, utcnow

if TYPE_CHECKING:
    from alerts.deliver import AlertRun
    from alerts.destinations import Destination
    from alerts.quiet import QuietHours
    from digests.deliver import Post
    from pipeline.engine import PollReport, Runner
    from pipeline.events import Progress

log = logging.getLogger("hccwatch.alerts")


class App:
    """Settings, watchlist and database, each loaded on first use."""

    def __init__(self, settings: Settings | None = None, watchlist: Watchlist | None = None):
        self._settings = settings
        self.alerted: AlertRun | None = None  # what the last poll's alerting did
        if watchlist is not None:
            self.watchlist = watchlist  # fills the cached property (the demo's own watchlist)

    @cached_property
    def settings(self) -> Settings:
        return self._settings or load_settings()

    @cached_property
    def watchlist(self) -> Watchlist:
        return load_watchlist(self.settings.watchlist)

    @cached_property
    def engine(self) -> Engine:
        try:
            return open_engine(self.settings.db)
        except StoreError as error:
            raise ConfigError(f"HCCWATCH_DB: {error}") from None

    def poll(self, *, sources: Sequence[str] = (), topics: Sequence[str] = (),
             progress: Progress | None = None, runner: Runner | None = None) -> PollReport:
        """Poll the chosen sources and topics (all by default) once; `runner` defaults to a
        few threads. Raises ConfigError when the choice leaves nothing to poll."""
        # The poll engine loads every source's parser: imported when a poll runs, so that
        # commands that only read the store start quickly.
        from pipeline.engine import poll, threads
        from pipeline.events import ignore
        from pipeline.plan import plan

        progress = progress or ignore
        with ExitStack() as stack:
            tasks = plan(self.settings, self.watchlist, stack, sources=sources or None,
                         topics=topics or None, progress=progress)
            if not tasks:
                raise ConfigError("nothing to poll: no watchlist topic has a query for the "
                                  "chosen source(s)")
            report = poll(self.engine, self.watchlist, tasks, progress=progress,
                          runner=runner or threads(self.settings.feed_concurrency))
        self.alerted = self.alert_safely()
        return report

    @cached_property
    def destinations(self) -> list[Destination]:
        """HCCWATCH_ALERT_URLS as destinations (Apprise is loaded only when some are set)."""
        from alerts.destinations import destinations

        return destinations(self.settings.alert_urls)

    @property
    def quiet_hours(self) -> QuietHours:
        from alerts.quiet import QuietHours

        return QuietHours.parse(self.watchlist.alerts.quiet_hours, self.watchlist.timezone)

    def alert(self, now: datetime | None = None) -> AlertRun:
        """Record the alerts the stored changes call for and send what is due."""
        from alerts.deliver import after_poll

        return after_poll(self.engine, self.destinations, self.watchlist.alerts.kinds,
                          self.quiet_hours, now=now or utcnow(), timeout=self.settings.http_timeout)

    def alert_safely(self) -> AlertRun | None:
        """`alert()` after a poll: whatever goes wrong is logged (scrubbed) and never fails
        or stops the poll; the alerts wait for the next one."""
        try:
            return self.alert()
        except Exception as error:  # noqa: BLE001  alerts must never cost the poll
            log.warning("alerts not sent this time (the next poll retries): %s", self.scrubbed(error))
            return None

    def scrubbed(self, error: Exception) -> str:
        """The error in words free of every alert URL's secrets (only its type when even
        that cannot be made sure)."""
        message = f"{type(error).__name__}: {error}"
        try:
            from alerts.destinations import scrub, split_urls

            for url in split_urls(self.settings.alert_urls):
                message = scrub(message, url)
        except Exception:  # noqa: BLE001
            return type(error).__name__
        return message

    def post(self) -> Post:
        """What delivering a digest needs: the store, the mail settings, the watchlist. The
        stored judgements are first brought up to date with the watchlist, so a weight or a
        patient fact changed since the last poll already counts in this digest."""
        from digests.deliver import Post
        from pipeline.judge import rejudge_if_changed

        with session_scope(self.engine) as session:
            rejudge_if_changed(session, self.watchlist.judges(), now=utcnow())
        return Post(self.engine, self.settings, self.watchlist)
