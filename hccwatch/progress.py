"""Progress of long polls on the terminal: a live rich display on a terminal, plain lines
otherwise (the lines are the events' own, pipeline.events.ProgressEvent.line), control
characters from upstream answers shown escaped."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from hccwatch.terminal import printable
from pipeline.events import Progress, ProgressEvent


@contextmanager
def progress_printer(stream: Any = None) -> Iterator[Progress]:
    """Yield a progress callback; rich on a terminal, one plain line per event elsewhere."""
    stream = stream or sys.stderr
    lock = threading.Lock()
    if not stream.isatty():
        def plain(event: ProgressEvent) -> None:
            text = event.line()
            if text:
                with lock:
                    click.echo(printable(text), file=stream)
        yield plain
        return

    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn

    with RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                      console=Console(file=stream), transient=False) as bar:
        rows: dict[str, Any] = {}

        def show(event: ProgressEvent) -> None:
            text = event.line()
            if text is None:
                return
            shown = escape(printable(text))  # upstream text is neither markup nor control codes
            with lock:
                if event.row not in rows:
                    rows[event.row] = bar.add_task(shown, total=None)
                bar.update(rows[event.row], description=shown)
        yield show
