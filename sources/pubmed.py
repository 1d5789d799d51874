"""PubMed through NCBI E-utilities: esearch on the history server (split by entry date until
every slice is under the 9,999 retrieval cap) and efetch in batches, from the entry-date
watermark the last poll stored. What the answers say is read by sources.pubmed_parse."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from sources.http import HttpClient, ParseError, SourceError
from sources.literature import window_start
from sources.pubmed_parse import (
    HistoryExpired,
    parse_batch,
    parse_search,
    raise_for_error_document,
    transient_error,
)
from sources.records import ParsedPage, since_day

log = logging.getLogger("hccwatch.pubmed")
TOOL = "hccwatch"
RETRIEVAL_CAP = 9999
EFETCH_BATCH = 500
EFETCH_MAX_BYTES = 64 * 1024 * 1024
MODIFIED_CHUNK = 200
# A page, or a call that reads one batch's XML: the poll parses on its storing thread, so the
# next efetch is never held up by the parse.
PageOrReader = ParsedPage | Callable[[], ParsedPage]  # PMIDs per modification-date search (the term stays a short GET)


@dataclass(slots=True)
class SearchResult:
    """One esearch over an entry-date window, kept on the history server."""

    start: date
    end: date
    count: int
    webenv: str | None = None
    query_key: str | None = None
    ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what PubMed did not search for
    datetype: str = "edat"


@dataclass(frozen=True)
class Eutils:
    """E-utilities over one rate-limited client, naming the tool (and e-mail, key) every time."""

    client: HttpClient
    base_url: str
    email: str | None = None
    api_key: str | None = None
    tool: str = TOOL

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {"db": "pubmed", "tool": self.tool, **extra}
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        return params

    def _get(self, endpoint: str, params: dict[str, Any], *, max_bytes: int | None = None) -> bytes:
        """GET, retrying like a 5xx the transient errors NCBI sometimes sends inside a 200
        answer (a rate limit, "Search Backend failed")."""
        url = f"{self.base_url.rstrip('/')}/{endpoint}"
        for attempt in range(1, self.client.retry.attempts + 1):
            body = self.client.get(url, params=params, max_bytes=max_bytes).content
            problem = transient_error(body)
            if problem is None:
                return body
            if attempt < self.client.retry.attempts:
                wait = self.client.retry.delay(attempt, None)
                log.warning("retrying PubMed %s in %.1fs after: %s", endpoint, wait, problem)
                time.sleep(wait)
        raise SourceError(f"PubMed E-utilities: {problem}", retriable=True)

    def esearch(self, term: str, start: date, end: date, datetype: str = "edat") -> SearchResult:
        """Records of `term` entered (`datetype` edat; mdat: modified) between `start` and `end`
        (inclusive), kept on the history server."""
        body = self._get("esearch.fcgi", self._params(
            term=term, usehistory="y", retmax=0, datetype=datetype,
            mindate=start.strftime("%Y/%m/%d"), maxdate=end.strftime("%Y/%m/%d")))
        answer = parse_search(body)
        return SearchResult(start, end, answer.count, answer.webenv, answer.query_key,
                            answer.ids, answer.warnings, datetype)

    def efetch(self, found: SearchResult, retstart: int, retmax: int) -> bytes:
        """One batch of PubmedArticleSet XML from the history server; raises HistoryExpired
        if NCBI no longer knows the WebEnv and SourceError for any other <ERROR>."""
        body = self._get("efetch.fcgi", self._params(
            WebEnv=found.webenv, query_key=found.query_key, retstart=retstart, retmax=retmax,
            retmode="xml", rettype="abstract"), max_bytes=EFETCH_MAX_BYTES)
        raise_for_error_document(body)
        return body


def search_slices(eutils: Eutils, term: str, start: date, end: date,
                  warnings: list[str] | None = None, datetype: str = "edat") -> Iterator[SearchResult]:
    """Searches covering [start, end] whose results each fit under the 9,999 cap, found by
    halving the entry-date window until they do. Empty windows are left out; what PubMed
    warned about (terms it ignored) goes to `warnings`."""
    found = eutils.esearch(term, start, end, datetype)
    if warnings is not None:
        warnings.extend(w for w in found.warnings if w not in warnings)
    if found.count <= RETRIEVAL_CAP:
        if found.count:
            yield found
        return
    if start >= end:
        raise SourceError(f"PubMed: {found.count} records were entered on {start} alone, over the "
                          f"9,999 retrieval cap; narrow the query")
    middle = start + (end - start) // 2
    yield from search_slices(eutils, term, start, middle, warnings, datetype)
    yield from search_slices(eutils, term, middle + timedelta(days=1), end, warnings, datetype)


@dataclass(slots=True)
class Batch:
    """The raw efetch XML of one slice's records [retstart, retstart + size)."""

    found: SearchResult
    retstart: int
    size: int
    body: bytes

    def describe(self) -> str:
        dates = "modification" if self.found.datetype == "mdat" else "entry"
        return (f"{dates} dates {self.found.start}..{self.found.end}, "
                f"records {self.retstart + 1}-{self.retstart + self.size} of {self.found.count}")


def fetch_batches(eutils: Eutils, term: str, start: date, end: date, *,
                  batch_size: int = EFETCH_BATCH, warnings: list[str] | None = None,
                  datetype: str = "edat") -> Iterator[Batch]:
    """Every record of `term` entered (or, `datetype` mdat, modified) in [start, end], batch
    by batch. An expired WebEnv runs the slice's search again once, then carries on from the
    same place."""
    for found in search_slices(eutils, term, start, end, warnings, datetype):
        for retstart in range(0, min(found.count, RETRIEVAL_CAP), batch_size):
            size = min(batch_size, found.count - retstart)
            try:
                body = eutils.efetch(found, retstart, size)
            except HistoryExpired:
                found = eutils.esearch(term, found.start, found.end, datetype)
                body = eutils.efetch(found, retstart, size)
            yield Batch(found, retstart, size, body)


def fetch_since(eutils: Eutils, term: str, cursor: str | None, *, today: date,
                backfill_days: int, lookback_days: int = 0) -> Iterator[PageOrReader]:
    """Every record of `term` entered from `lookback_days` before the cursor's day (see
    literature.window_start) to `today`, one page per efetch batch; what PubMed warned about
    comes last, on a page of its own."""
    start = window_start(cursor, today, backfill_days, lookback_days)
    warnings: list[str] = []
    for batch in fetch_batches(eutils, term, start, today, warnings=warnings):
        yield partial(read_batch, batch)
    if warnings:
        yield ParsedPage([], None, warnings=warnings)


def fetch_modified(eutils: Eutils, pmids: Sequence[str], cursor: str | None, *, today: date,
                   lookback_days: int) -> Iterator[PageOrReader]:
    """The stored papers (`pmids`) PubMed modified from `lookback_days` before the cursor's day
    to `today` (datetype=mdat): retractions, errata and corrections are added to the original
    record. Searched MODIFIED_CHUNK ids at a time."""
    start = since_day(cursor, lookback_days) or today - timedelta(days=lookback_days)
    for first in range(0, len(pmids), MODIFIED_CHUNK):
        term = " OR ".join(f"{pmid}[pmid]" for pmid in pmids[first:first + MODIFIED_CHUNK])
        for batch in fetch_batches(eutils, term, start, today, datetype="mdat"):
            yield partial(read_batch, batch)


def read_batch(batch: Batch) -> ParsedPage:
    """One batch's records; a batch that cannot be read is a page with an error (the poll then
    stores the rest and holds the watermark)."""
    try:
        parsed = parse_batch(batch.body)
    except ParseError as error:
        return ParsedPage([], None, error=f"batch of {batch.describe()} failed: {error}")
    withdrawn = [f"PMID {pmid} was withdrawn by PubMed (DeleteCitation)" for pmid in parsed.deleted]
    return ParsedPage(parsed.records, None, skipped=parsed.skipped + withdrawn)
