"""What the Click commands share: the App they work on, one-line failures (exit 2), a poll
with progress on the terminal and its summary (alerts included), and the findings table."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from hccwatch.app import App
from hccwatch.settings import ConfigError
from hccwatch.terminal import printable
from store.db import StoreError
from store.vocab import code_text

KEY_WIDTH = 28

pass_app = click.make_pass_decorator(App, ensure=True)


def fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn configuration and store errors into a one-line message and exit code 2."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, StoreError) as error:
            click.echo(f"hccwatch: {error}", err=True)
            sys.exit(2)
    return wrapper


def do_poll(app: App, *, sources: tuple[str, ...] = (), topics: tuple[str, ...] = (),
            quiet: bool = False) -> Any:
    """Poll, showing progress (with `quiet`, only the summary per source), then the summary."""
    from hccwatch.progress import progress_printer

    if quiet:
        report = app.poll(sources=sources, topics=topics, progress=lambda _event: None)
    else:
        with progress_printer() as progress:
            report = app.poll(sources=sources, topics=topics, progress=progress)
    print_poll_summary(report)
    if app.alerted is not None and (app.alerted.recorded or app.alerted.waiting
                                    or app.settings.alert_urls):
        click.echo(printable(app.alerted.line()))
    return report


def hccwatch_command() -> str:
    """How to run hccwatch from this environment: its script's full path (a fresh checkout's
    .venv/bin is not on PATH), else `python -m hccwatch.cli`."""
    script = Path(sys.executable).parent / "hccwatch"
    return str(script) if script.is_file() else f"{sys.executable} -m hccwatch.cli"


def print_poll_summary(report: Any) -> None:
    for source, counts in sorted(report.counts().items()):
        click.echo(f"{source}: {counts['fetched']} fetched, {counts['new']} new, "
                   f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
                   f"{counts['changes']} changes, {counts['errors']} failed")
    for error in report.errors:
        click.echo(printable(f"FAILED {error}"), err=True)


def findings_table(data: list[dict[str, Any]]) -> str:
    if not data:
        return "No findings stored yet. Run `hccwatch poll` (or `hccwatch demo`)."
    lines = [line for item in data for line in finding_lines(item)]
    lines.append(f"{len(data)} finding(s)")
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    """`text` clipped and padded to `width` terminal columns (a Chinese character takes two)."""
    out, used = "", 0
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used + size > width:
            break
        out, used = out + char, used + size
    return out + " " * (width - used)


def finding_lines(item: dict[str, Any]) -> list[str]:
    """One finding in the table: key (on its own line when long: never clipped, so it can be
    pasted into `hccwatch show`), kind, status or evidence, title, topics; then why."""
    label = code_text(item["status"]) if item.get("status") else item.get("evidence") or ""
    key, lines = item["key"], []
    if len(key) > KEY_WIDTH:
        lines.append(key)
        key = ""
    lines.append(f"{key:<{KEY_WIDTH}} {item['kind']:<8} {_fit(label, 24)} "
                 f"{_clip(item['title'], 70)}  [{', '.join(item['topics'])}]")
    if item.get("why"):
        lines.append(f"{'':<{KEY_WIDTH + 34}} why: {_clip(' · '.join(item['why']), 110)}")
    return lines


def _clip(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
