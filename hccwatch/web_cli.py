"""The `hccwatch web` and `hccwatch search` commands (loaded by cli.py only when they run).
`web` hands the web app what it may not import itself: the watchlist and the ad-hoc search."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from hccwatch.app import App
from hccwatch.commands import fail_cleanly, finding_lines, pass_app, print_poll_summary
from hccwatch.settings import ConfigError, Settings
from hccwatch.terminal import json_text, printable
from hccwatch.watchlist import Topic, Watchlist, load_watchlist
from store.vocab import ADHOC_SOURCES, FILTER_SOURCES


class WebBackend:
    """web.app.Backend from the composition root: the watchlist (read again when its file
    changes), the ad-hoc search, and adding a searched term to the watchlist file."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = settings.db
        self._watchlist: tuple[int, Watchlist] | None = None

    def watchlist(self) -> Watchlist:
        path = self.settings.watchlist
        try:
            stamp = Path(path).expanduser().stat().st_mtime_ns
        except OSError as error:
            raise ConfigError(f"HCCWATCH_WATCHLIST: cannot read {path}: {error.strerror}") from None
        if self._watchlist is None or self._watchlist[0] != stamp:
            self._watchlist = (stamp, load_watchlist(path))
        return self._watchlist[1]

    def clean_term(self, term: str) -> str:
        from pipeline.adhoc import clean_term

        return clean_term(term)

    def adhoc_topic_id(self, term: str) -> str:
        from pipeline.adhoc import adhoc_topic

        return adhoc_topic(term).id

    def suggest_topic_id(self, term: str) -> str:
        from pipeline.adhoc import slug

        return slug(term)

    def run_adhoc(self, engine: Any, term: str, sources: list[str],
                  progress: Any) -> tuple[str, dict[str, str]]:
        from pipeline.adhoc import adhoc_search

        result = adhoc_search(engine, self.settings, self.watchlist(), term, sources,
                              progress=progress)
        return result.topic.id, result.unavailable

    def add_topic(self, term: str, *, topic_id: str, label: str | None) -> Topic:
        from hccwatch.adhoc import add_topic

        return add_topic(self.settings.watchlist, term, topic_id=topic_id, label=label)


def web_app(settings: Settings, *, trusted_hosts: Sequence[str] | None = None) -> Any:
    """The web application over the store and watchlist `settings` name."""
    from web.app import create_app

    return create_app(WebBackend(settings), trusted_hosts=trusted_hosts)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only loopback addresses unless --allow-remote.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. The pages have no login: anyone who can reach "
                   "the address can read the findings and start searches.")
@pass_app
@fail_cleanly
def web(app: App, host: str, port: int, allow_remote: bool) -> None:
    """Browse stored findings in a local web page: search, filters, topics, digests, source
    health, Atom feeds, and live searches of the sources."""
    from web.security import is_loopback, trusted_hosts

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(f"--host {host} is not a loopback address; the pages have no login, "
                               "so pass --allow-remote if you really mean to serve other machines")
    import uvicorn

    _ = app.watchlist  # a broken watchlist fails here, with its line number, not in the browser
    application = web_app(app.settings, trusted_hosts=None if allow_remote else trusted_hosts(host))
    sock = listening_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"hccwatch: serving http://{shown}:{port}/ (Ctrl+C stops)", err=True)
    config = uvicorn.Config(application, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def listening_socket(host: str, port: int) -> socket.socket:
    """The address bound before anything is said: a taken port is one clear line (exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        hint = ("something else (another `hccwatch web`?) already uses it; choose another "
                "with --port" if error.errno == errno.EADDRINUSE else error.strerror)
        raise click.UsageError(f"cannot listen on {host} port {port}: {hint}") from None
    sock.listen(128)
    return sock


@click.command()
@click.argument("term")
@click.option("--local", is_flag=True, help="Search stored findings only (no network).")
@click.option("--source", "sources", multiple=True, type=click.Choice(FILTER_SOURCES), metavar="S",
              help=f"Live: search only this source ({', '.join(ADHOC_SOURCES)}); with --local: only "
                   "findings from this source. Repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many findings.")
@click.option("--literal", is_flag=True,
              help="With --local: search TERM only, not the synonyms of its watchlist topic.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@pass_app
@fail_cleanly
def search(app: App, term: str, local: bool, sources: tuple[str, ...], limit: int,
           literal: bool, fmt: str) -> None:
    """Search the sources live for TERM and store what they return (tagged ad-hoc), or with
    --local search the stored findings (full text, English or Chinese).

    With --local, a TERM that is one of a watchlist topic's terms (QL1706, 转化治疗) also finds
    the topic's other terms in both languages and everything tagged with it; --literal turns
    that off.

    Exits 1 if a source failed (what the others returned is still stored)."""
    if local:
        _search_local(app, term, sources, limit, fmt, literal=literal)
        return
    unknown = [s for s in sources if s not in ADHOC_SOURCES]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} cannot be searched live "
                                 f"(choose from {', '.join(ADHOC_SOURCES)})", param_hint="--source")
    sys.exit(_search_live(app, term, sources, limit, fmt))


def _search_local(app: Any, term: str, sources: tuple[str, ...], limit: int, fmt: str, *,
                  literal: bool) -> None:
    from store.db import session_scope
    from store.queries import describe
    from store.search import Filters, search, segments_text, synonyms_of

    if not term.strip():
        raise click.BadParameter("type a word or phrase", param_hint="TERM")
    synonyms = None if literal else synonyms_of(term, ((t.id, t.all_terms) for t in app.watchlist.topics))
    if synonyms:  # said on stderr under --format json, so the JSON stays clean
        click.echo(printable(f"{term!r} is a watchlist term: also searched {', '.join(synonyms.terms)} "
                             f"and everything tagged {', '.join(synonyms.topics)} "
                             f"(--literal searches {term!r} only)"), err=fmt == "json")
    with session_scope(app.engine, write=False) as session:
        page = search(session, Filters(q=term, sources=sources, synonyms=synonyms), limit=limit)
        data = describe(session, [hit.finding for hit in page.hits])
    for item, hit in zip(data, page.hits, strict=True):
        item["match"] = segments_text(hit.snippet) if hit.snippet else segments_text(hit.title)
    if fmt == "json":
        click.echo(json_text(data))
        return
    more = "more than " if page.capped else ""
    click.echo(printable(_table(data, with_match=True) + f"\n{more}{page.total} match(es) for {term!r}"))


def _search_live(app: Any, term: str, sources: tuple[str, ...], limit: int, fmt: str) -> int:
    from hccwatch.progress import progress_printer
    from pipeline.adhoc import adhoc_search
    from store.db import session_scope
    from store.queries import describe, list_findings

    try:
        with progress_printer() as progress:
            result = adhoc_search(app.engine, app.settings, app.watchlist, term, sources or None,
                                  progress=progress)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="TERM") from None
    for source, reason in result.unavailable.items():
        click.echo(printable(f"{source}: skipped ({reason})"), err=True)
    with session_scope(app.engine, write=False) as session:
        data = describe(session, list_findings(session, topic=result.topic.id, limit=limit))
    for words in result.report.reasons.values():  # plain words, whatever the format
        click.echo(printable(f"failed: {words}"), err=True)
    if fmt == "json":
        click.echo(json_text(data))
    else:
        print_poll_summary(result.report)
        table = _table(data) if data or result.report.ok else \
            f"Nothing stored: {len(result.report.reasons)} of the sources failed (said above)."
        click.echo(printable(table + f"\nstored under the ad-hoc topic {result.topic.id}"))
    return 0 if result.report.ok else 1


def _table(data: list[dict[str, Any]], *, with_match: bool = False) -> str:
    if not data:
        return "Nothing found."
    return "\n".join(line for item in data for line in
                     finding_lines(item) + ([f"    {item['match']}"] if with_match else []))
