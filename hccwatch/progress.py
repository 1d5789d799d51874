"""Progress of long polls: a live rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from hccwatch.terminal import printable

Progress = Callable[..., None]


def _line(event: str, data: dict[str, Any]) -> str | None:
    """The event as one line, control characters from upstream answers shown escaped."""
    text = _describe(event, data)
    return None if text is None else printable(text)


def _describe(event: str, data: dict[str, Any]) -> str | None:
    task = data.get("task")
    if event == "poll_started":
        return f"polling {data['total']} source queries"
    if event == "task_started":
        return f"{task.source} {task.query}: fetching"
    if event == "page":
        total = f" of {data['total']}" if data.get("total") else ""
        return f"{data['source']} {data['label']}: page {data['page']}, {data['records']}{total} records"
    if event == "task_done":
        r = data["result"]
        return (f"{task.source} {task.query}: {r.fetched} fetched, {r.new} new, "
                f"{r.updated} updated, {r.changes} changes")
    if event == "task_failed":
        return f"FAILED {data['error']}"
    return None


@contextmanager
def progress_printer(stream: Any = None) -> Iterator[Progress]:
    """Yield a progress callback; rich on a terminal, one plain line per event elsewhere."""
    stream = stream or sys.stderr
    if stream.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn

        with RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                          console=Console(file=stream), transient=False) as bar:
            rows: dict[str, Any] = {}
            lock = threading.Lock()

            def show(event: str, **data: Any) -> None:
                text = _line(event, data)
                if text is None:
                    return
                key = f"{data['task'].source}/{data['task'].query}" if "task" in data else \
                    f"{data.get('source')}/{data.get('label')}" if event == "page" else event
                with lock:
                    if key not in rows:
                        rows[key] = bar.add_task(escape(text), total=None)
                    bar.update(rows[key], description=escape(text))
            yield show
        return

    lock = threading.Lock()

    def plain(event: str, **data: Any) -> None:
        text = _line(event, data)
        if text:
            with lock:
                click.echo(text, file=stream)
    yield plain
