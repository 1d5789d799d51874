"""Benchmark: ClinicalTrials.gov parse + store throughput (JSON page bytes -> tagged Records ->
committed rows; target >= 1,000 studies/s), side by side with parsing alone; and the cost of a
re-poll when nothing changed (target: one request per topic query, zero finding rows written).
Studies are the bundled recordings cloned with distinct NCT ids."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from hccwatch.settings import Settings
from hccwatch.watchlist import load_watchlist
from pipeline.engine import poll
from pipeline.plan import plan
from pipeline.tagging import Tagger
from replay.demo import DEMO_DATA
from replay.server import CtgovHandler, ReplayServer, cloned_studies, studies_from_recordings
from sources.clinicaltrials import parse_page
from store.db import open_engine, session_scope, utcnow
from store.ingest import ingest_batch

TARGET_RATE = 1000.0
PAGE_SIZE = 1000
FINDING_TABLES = ("finding", "identifier", "findingsource", "topicmatch", "link", "change")
WATCHLIST = """
[[topics]]
id = "immunotherapy"
terms = ["pembrolizumab", "Keytruda"]
ctgov = { intr = "Keytruda OR pembrolizumab" }

[[topics]]
id = "melanoma"
terms = ["melanoma"]
ctgov = { cond = "melanoma" }

[[topics]]
id = "sample-hcc"
terms = ["hepatocellular carcinoma"]
ctgov = { cond = "hepatocellular carcinoma" }
"""


def recorded() -> list[dict[str, Any]]:
    files = sorted((DEMO_DATA / "ctgov").glob("*/*.json"))
    return studies_from_recordings(f.read_bytes() for f in files)


def pages(studies: list[dict[str, Any]]) -> list[bytes]:
    """The studies as API pages of PAGE_SIZE (what a poll receives)."""
    return [json.dumps({"studies": studies[i:i + PAGE_SIZE]}).encode()
            for i in range(0, len(studies), PAGE_SIZE)]


def parse_only(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        parse_page(body)
    return time.perf_counter() - started


def parse_and_store(bodies: list[bytes], engine: Engine, tagger: Tagger) -> float:
    """Each page parsed, tagged and committed in its own transaction, as a poll does."""
    started = time.perf_counter()
    for number, body in enumerate(bodies):
        records = parse_page(body).records
        for record in records:
            tagger.tag(record, found_by="bench")
        with session_scope(engine) as session:
            ingest_batch(session, records, source="ctgov", query=f"page-{number}",
                         seen_at=utcnow(), cursor="2026-11-23")
    return time.perf_counter() - started


def throughput(count: int, folder: Path) -> list[dict]:
    studies = cloned_studies(recorded(), count)
    bodies = pages(studies)
    watchlist_path = folder / "watchlist.toml"
    watchlist_path.write_text(WATCHLIST, encoding="utf-8")
    tagger = Tagger(load_watchlist(watchlist_path))
    engine = open_engine(str(folder / "throughput.sqlite3"))
    parse_seconds = parse_only(bodies)
    store_seconds = parse_and_store(bodies, engine, tagger)
    engine.dispose()
    rate = count / store_seconds
    return [
        {"benchmark": f"ctgov parse only, {count:,} studies in {len(bodies)} pages",
         "result": f"{count / parse_seconds:,.0f} studies/s", "target": "(for comparison)",
         "ok": True},
        {"benchmark": f"ctgov parse + tag + store (committed), {count:,} studies",
         "result": f"{rate:,.0f} studies/s ({store_seconds / parse_seconds:.1f}x parse alone)",
         "target": f">= {TARGET_RATE:,.0f} studies/s", "ok": rate >= TARGET_RATE},
    ]


class WriteCounter:
    """Rows each INSERT/UPDATE/DELETE statement touched, by table, on one engine."""

    def __init__(self, engine: Engine):
        self.rows: Counter[str] = Counter()
        event.listen(engine, "after_cursor_execute", self._count)

    def _count(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        if verb in ("INSERT", "UPDATE", "DELETE") and cursor.rowcount > 0:
            table = words[2] if verb in ("INSERT", "DELETE") else words[1]
            self.rows[table.strip('"')] += cursor.rowcount

    def findings_rows(self) -> int:
        return sum(self.rows[t] for t in FINDING_TABLES)

    def reset(self) -> None:
        self.rows.clear()


def timed_poll(engine: Engine, settings: Settings, server: ReplayServer) -> tuple[float, int]:
    watchlist = load_watchlist(settings.watchlist)
    before = len(server.requests("/ctgov/studies"))
    started = time.perf_counter()
    with ExitStack() as stack:
        tasks = plan(settings, watchlist, stack, sources=["ctgov"], progress=lambda _e: None)
        report = poll(engine, watchlist, tasks)
    if not report.ok:
        raise RuntimeError("; ".join(report.errors))
    return time.perf_counter() - started, len(server.requests("/ctgov/studies")) - before


def repoll(count: int, folder: Path) -> list[dict]:
    (folder / "watchlist.toml").write_text(WATCHLIST, encoding="utf-8")
    with ReplayServer() as server:
        server.route("/ctgov", CtgovHandler(cloned_studies(recorded(), count)))
        settings = Settings(db=str(folder / "repoll.sqlite3"), watchlist=str(folder / "watchlist.toml"),
                            ctgov_url=f"{server.url}/ctgov", ctgov_rate=1000.0)
        engine = open_engine(settings.db)
        writes = WriteCounter(engine)
        first_seconds, first_requests = timed_poll(engine, settings, server)
        first_rows = writes.findings_rows()
        writes.reset()
        again_seconds, again_requests = timed_poll(engine, settings, server)
        engine.dispose()
    queries = 3
    return [{
        "benchmark": f"ctgov re-poll with nothing changed ({count:,} studies stored, {queries} queries)",
        "result": f"{again_requests} requests, {writes.findings_rows()} finding rows written, "
                  f"{again_seconds:.2f} s (first poll: {first_requests} requests, {first_rows:,} "
                  f"rows, {first_seconds:.2f} s; {first_seconds / again_seconds:.0f}x)",
        "target": f"{queries} requests, 0 rows",
        "ok": again_requests == queries and writes.findings_rows() == 0,
    }]


def run(quick: bool = False) -> list[dict]:
    count = 1000 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="hccwatch-bench-ctgov-") as tmp:
        return throughput(count, Path(tmp)) + repoll(count, Path(tmp))


if __name__ == "__main__":
    for row in run():
        print(row)
