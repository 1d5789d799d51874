"""Benchmark: 100 feeds of 50 entries each served by the replay server with 200 ms of added
latency. First poll (fetch + parse + match + store + stories), concurrent vs one feed at a time
(target: at least 4x faster), and the second poll (target: one request per feed, all 304,
nothing parsed). Feeds are generated here (constructed, mixed English and Chinese items);
the topics are the bundled watchlist's."""

from __future__ import annotations

import dataclasses
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hccwatch.settings import Settings
from hccwatch.watchlist import Feed, Watchlist, load_watchlist
from pipeline.engine import poll, threads
from pipeline.plan import plan
from replay.server import ReplayServer, Request, Response, StaticHandler
from store.db import open_engine

LATENCY = 0.2
SPEEDUP_TARGET = 4.0
START = datetime(2026, 9, 1, tzinfo=UTC)
ON_TOPIC = (
    "QL1706 plus bevacizumab in advanced hepatocellular carcinoma: report {n}",
    "Atezolizumab and bevacizumab after TACE failure, cohort {n}",
    "艾帕洛利托沃瑞利单抗治疗肝癌的第{n}项研究进展",
    "Downstaging to liver transplantation within Milan criteria, center {n}",
)
OFF_TOPIC = (
    "Colorectal screening uptake rises in region {n}",
    "Hospital opens new cardiology wing number {n}",
    "秋季健康讲座第{n}期举行",
)
DEFAULT_WATCHLIST = Path(__file__).parent.parent / "hccwatch" / "watchlist.toml"


def feed_body(feed: int, entries: int) -> bytes:
    """One RSS 2.0 feed; one item in ten concerns a watchlist topic (general medical feeds carry
    far fewer, Google News searches for the watchlist's terms all of theirs)."""
    items = []
    for index in range(entries):
        n = feed * entries + index
        titles = ON_TOPIC if index % 10 == 0 else OFF_TOPIC
        title = titles[n % len(titles)].format(n=n)
        date = START + timedelta(hours=n % (24 * 60))
        items.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://news{feed}.example.org/story/{n}?utm_source=rss</link>"
            f"<description>&lt;p&gt;{escape(title)} &amp;mdash; details.&lt;/p&gt;</description>"
            f"<pubDate>{date.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench feed {feed}</title><link>https://news{feed}.example.org/</link>"
            f"{''.join(items)}</channel></rss>").encode()


class SlowStatic(StaticHandler):
    """StaticHandler with a fixed delay per request (a distant server), counting requests in
    memory shared with the parent process."""

    def __init__(self) -> None:
        super().__init__()
        self.count = multiprocessing.get_context("fork").Value("i", 0)

    def __call__(self, request: Request) -> Response:
        with self.count.get_lock():
            self.count.value += 1
        time.sleep(LATENCY)
        return super().__call__(request)


def _serve(server: ReplayServer) -> None:
    server.start()
    threading.Event().wait()


@contextmanager
def served_elsewhere(server: ReplayServer) -> Iterator[None]:
    """Run the replay server in a child process, as a remote server would be: in ours it would
    take turns with the poller for the interpreter lock and slow it down."""
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(server,), daemon=True)
    child.start()
    try:
        yield
    finally:
        child.terminate()
        child.join()


def bench_watchlist(server: ReplayServer, feeds: int) -> Watchlist:
    """The bundled watchlist's topics, with the generated feeds instead of the real ones."""
    return dataclasses.replace(load_watchlist(DEFAULT_WATCHLIST), feeds=tuple(
        Feed(f"bench-{feed}", f"{server.url}/feeds/{feed}.xml") for feed in range(feeds)))


def poll_once(settings: Settings, watchlist: Watchlist) -> tuple[float, Any, list[str]]:
    engine = open_engine(settings.db)
    events: list[str] = []
    try:
        started = time.perf_counter()
        with ExitStack() as stack:
            tasks = plan(settings, watchlist, stack, sources=["feeds"],
                         progress=lambda e: events.append(e.stage))
            report = poll(engine, watchlist, tasks, runner=threads(settings.feed_concurrency),
                          progress=lambda e: events.append(e.stage))
        return time.perf_counter() - started, report, events
    finally:
        engine.dispose()


def warm_up(watchlist: Watchlist) -> None:
    """Import and exercise the feed code once (setup is never timed: otherwise the first,
    concurrent, poll alone would pay for loading feedparser and BeautifulSoup)."""
    from pipeline.plan import keep_matching
    from pipeline.tagging import Tagger
    from sources.feeds import parse_feed

    parsed = parse_feed(feed_body(0, 5), {"content-type": "application/rss+xml"}, "warm-up",
                        "en", datetime.now(UTC))
    keep_matching(parsed.records, Tagger(watchlist))


def run(quick: bool = False) -> list[dict]:
    feeds, entries = (20, 50) if quick else (100, 50)
    server, handler = ReplayServer(), SlowStatic()
    for feed in range(feeds):
        handler.put(f"/feeds/{feed}.xml", feed_body(feed, entries))
    server.route("/feeds/", handler)
    with tempfile.TemporaryDirectory() as tmp, served_elsewhere(server):
        watchlist = bench_watchlist(server, feeds)
        warm_up(watchlist)
        base = Settings(db=str(Path(tmp) / "concurrent.sqlite3"), feed_rate=1000.0,
                        retry_attempts=1)
        first, report, _ = poll_once(base, watchlist)
        before = handler.count.value
        second, again, events = poll_once(base, watchlist)
        second_requests = handler.count.value - before
        serial_settings = base.replaced(db=str(Path(tmp) / "serial.sqlite3"),
                                              feed_concurrency=1)
        serial, _, _ = poll_once(serial_settings, watchlist)
    stored = sum(r.new for r in report.results.values())
    parsed_again = events.count("page")
    speedup = serial / first
    label = f"{feeds} feeds x {entries} entries, +{int(LATENCY * 1000)} ms per request"
    return [
        {"benchmark": f"feeds: first poll, concurrent ({label}; {stored} items stored)",
         "result": f"{first:.2f} s", "target": "-", "ok": report.ok},
        {"benchmark": f"feeds: first poll, one feed at a time ({label})",
         "result": f"{serial:.2f} s", "target": "-", "ok": True},
        {"benchmark": "feeds: first-poll speedup from bounded concurrency",
         "result": f"{speedup:.1f}x", "target": f">= {SPEEDUP_TARGET:.0f}x",
         "ok": speedup >= SPEEDUP_TARGET},
        {"benchmark": f"feeds: second poll, unchanged feeds ({label})",
         "result": f"{second:.2f} s, {second_requests} requests, {parsed_again} feeds parsed, "
                   f"{sum(r.fetched for r in again.results.values())} items",
         "target": f"{feeds} requests (all 304), 0 parsed",
         "ok": second_requests == feeds and parsed_again == 0 and again.ok},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
