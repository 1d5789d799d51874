"""Apprise logs what went wrong (and sometimes the host or URL it used) on its own logger. While
hccwatch talks to Apprise those lines are kept here instead of reaching any other handler (a
Prefect run log, the terminal), so a caller can scrub them before anyone sees them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()  # the logger is shared: one capture at a time


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001  a malformed log call must not break sending
            self.lines.append(str(record.msg))


@contextmanager
def captured() -> Iterator[list[str]]:
    """Apprise's warnings and errors meanwhile, as a list of lines, and nowhere else."""
    logger = logging.getLogger("apprise")
    keep = _Keep()
    with _LOCK:
        saved = logger.propagate, logger.level
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        logger.addHandler(keep)
        try:
            yield keep.lines
        finally:
            logger.removeHandler(keep)
            logger.propagate, logger.level = saved
