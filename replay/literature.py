"""Replay handlers for the literature sources, served by replay.server.ReplayServer.

E-utilities: esearch with the history server (WebEnv/QueryKey, entry-date windows), efetch by
history or by id, PubMed's 9,999 retrieval cap, NCBI's 3 requests/s limit (10 with an api_key)
answered with 429 and no Retry-After, <ERROR> bodies and WebEnvs that expire on demand.
Europe PMC: /search with cursorMark paging and its stop quirks. Used by the tests, the
benchmarks and `hccwatch demo` (see replay.demo)."""

from __future__ import annotations

import collections
import itertools
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lxml import etree

from replay.server import Request, Response, query_matches
from sources.literature import SAFE_PARSER

CAP = 9999
DOCTYPE = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
           b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')
ESEARCH_DOCTYPE = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
                   b'"-//NLM//DTD esearch 20060628//EN" '
                   b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n')
RATE_LIMITED = b'{"error":"API rate limit exceeded","api-key":"127.0.0.1","count":"%d","limit":"%d"}'


# ---------------------------------------------------------------- E-utilities

@dataclass(slots=True)
class Article:
    """One PubmedArticle as efetch would send it, and the day PubMed entered it."""

    pmid: str
    entered: date
    xml: bytes
    text: str = ""
    modified: date | None = None  # the last day PubMed changed it (datetype=mdat); else entered


def articles_from_recordings(bodies: Iterable[bytes], *, entered: date | None = None) -> list[Article]:
    """Split recorded PubmedArticleSet answers into articles (entry date from the record's
    History, or `entered` when given)."""
    articles = []
    for body in bodies:
        root = etree.fromstring(body, SAFE_PARSER)
        for element in root.iterfind("PubmedArticle"):
            pmid = element.findtext("MedlineCitation/PMID").strip()
            when = entered or _entrez_date(element)
            articles.append(Article(pmid, when, etree.tostring(element, encoding="utf-8"), _searchable(element)))
    return articles


def _searchable(element: Any) -> str:
    """What a [tiab]/[Mesh] search looks at: titles, abstract, MeSH terms and keywords."""
    paths = ("MedlineCitation/Article/ArticleTitle", "MedlineCitation/Article/VernacularTitle",
             "MedlineCitation/Article/Abstract/AbstractText",
             "MedlineCitation/MeshHeadingList/MeshHeading/DescriptorName",
             "MedlineCitation/KeywordList/Keyword")
    return " ".join("".join(e.itertext()) for path in paths for e in element.iterfind(path)).lower()


def _entrez_date(element: Any) -> date:
    history = element.find("PubmedData/History/PubMedPubDate[@PubStatus='entrez']")
    if history is None:
        return date(2000, 1, 1)
    return date(*(int(history.findtext(t)) for t in ("Year", "Month", "Day")))


SYNTHETIC = ('<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
             '<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate>'
             '<Year>{year}</Year></PubDate></JournalIssue><Title>Constructed journal</Title></Journal>'
             '<ArticleTitle>Constructed article {pmid} on hepatocellular carcinoma</ArticleTitle>'
             '<Abstract><AbstractText Label="BACKGROUND">Constructed for load tests.</AbstractText>'
             '</Abstract><Language>eng</Language><PublicationTypeList><PublicationType UI="D016428">'
             'Journal Article</PublicationType></PublicationTypeList></Article></MedlineCitation>'
             '<PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>'
             '<ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>')


def synthetic_articles(count: int, *, end: date, days: int, first_pmid: int = 90_000_000) -> list[Article]:
    """`count` constructed minimal articles spread evenly over the `days` days up to `end`."""
    return [Article(str(first_pmid + n), end - timedelta(days=n % days),
                    SYNTHETIC.format(pmid=first_pmid + n, year=end.year).encode(),
                    "hepatocellular carcinoma")
            for n in range(count)]


class EutilsHandler:
    """esearch/efetch over a list of Articles, newest entry first (PubMed's default order)."""

    def __init__(self, articles: Iterable[Article], *, rate_limit: float | None = 3.0,
                 keyed_rate_limit: float = 10.0, filter_queries: bool = True,
                 unknown_terms: Iterable[str] = ()):
        self.articles = list(articles)
        # Terms PubMed would not know: a query naming one is answered with <PhraseNotFound>.
        self.unknown_terms = tuple(unknown_terms)
        self.rate_limit = rate_limit
        self.keyed_rate_limit = keyed_rate_limit
        self.filter_queries = filter_queries
        self.sessions: dict[str, list[str]] = {}
        self.rejected = 0
        self._served: collections.deque[float] = collections.deque()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def articles(self) -> list[Article]:
        return self._articles

    @articles.setter
    def articles(self, articles: Iterable[Article]) -> None:
        self._articles = sorted(articles, key=lambda a: (a.entered, int(a.pmid)), reverse=True)
        self._by_pmid = {a.pmid: a for a in self._articles}

    def expire_sessions(self) -> None:
        """Forget every WebEnv, as NCBI does after a while."""
        with self._lock:
            self.sessions.clear()

    def __call__(self, request: Request) -> Response:
        limited = self._limit(request)
        if limited:
            return limited
        if request.path.endswith("/esearch.fcgi"):
            return self._esearch(request.params)
        if request.path.endswith("/efetch.fcgi"):
            return self._efetch(request.params)
        return Response(404, b"<html><body>Not Found</body></html>", "text/html")

    def _limit(self, request: Request) -> Response | None:
        rate = self.keyed_rate_limit if request.params.get("api_key") else self.rate_limit
        if rate is None:
            return None
        with self._lock:
            while self._served and request.at - self._served[0] >= 1.0:
                self._served.popleft()
            if len(self._served) >= rate:
                self.rejected += 1
                return Response(429, RATE_LIMITED % (len(self._served) + 1, rate), "application/json")
            self._served.append(request.at)
        return None

    def _esearch(self, params: dict[str, str]) -> Response:
        if params.get("db", "pubmed") != "pubmed":
            return _search_error(f"Invalid db name specified: {params['db']}")
        if not params.get("term"):
            return _search_error("Empty term and query_key - nothing todo")
        pmids = [a.pmid for a in self._select(params)]
        retstart, retmax = int(params.get("retstart") or 0), int(params.get("retmax") or 20)
        if retstart > CAP - 1:
            return _search_error("Search Backend failed: Exception:\n'retstart' cannot be larger than "
                                 "9998. For PubMed, ESearch can only retrieve the first 9,999 records "
                                 "matching the query.")
        window = pmids[retstart: min(retstart + min(retmax, CAP), CAP)]
        history = ""
        if params.get("usehistory") == "y":
            webenv = f"MCID_replay_{next(self._counter):06d}"
            with self._lock:
                self.sessions[webenv] = pmids
            history = f"<QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>"
        if params.get("retmode") == "json":
            return Response(body=json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {
                "count": str(len(pmids)), "retmax": str(len(window)), "retstart": str(retstart),
                "idlist": window, **({"webenv": webenv, "querykey": "1"} if history else {})}}).encode())
        ids = "".join(f"<Id>{p}</Id>" for p in window)
        unknown = "".join(f"<PhraseNotFound>{_escape(t)}</PhraseNotFound>" for t in self.unknown_terms
                          if t.lower() in params["term"].lower())
        body = (f"<eSearchResult><Count>{len(pmids)}</Count><RetMax>{len(window)}</RetMax>"
                f"<RetStart>{retstart}</RetStart>{history}<IdList>{ids}</IdList>"
                f"<TranslationSet/>{f'<ErrorList>{unknown}</ErrorList>' if unknown else ''}"
                f"</eSearchResult>")
        return Response(body=ESEARCH_DOCTYPE + body.encode(), content_type="text/xml")

    def _select(self, params: dict[str, str]) -> list[Article]:
        start, end = _day(params.get("mindate"), date.min), _day(params.get("maxdate"), date.max)
        term = params["term"]
        by_id = set(re.findall(r"(\d+)\[pmid\]", term)) if _PMID_TERMS.match(term) else None
        modified = params.get("datetype") == "mdat"
        return [a for a in self.articles
                if start <= ((a.modified or a.entered) if modified else a.entered) <= end
                and (a.pmid in by_id if by_id is not None
                     else not self.filter_queries or query_matches(a.text, term))]

    def _efetch(self, params: dict[str, str]) -> Response:
        if params.get("id"):
            pmids = [p.strip() for p in params["id"].split(",") if p.strip()]
        else:
            with self._lock:
                pmids = self.sessions.get(params.get("WebEnv") or "")
            if pmids is None or params.get("query_key") != "1":
                return _fetch_error(f"Unable to obtain query #{params.get('query_key') or 1}")
            retstart = int(params.get("retstart") or 0)
            if retstart >= CAP:
                return _fetch_error("Cannot retrieve records beyond the first 9,999 of a PubMed search")
            stop = min(retstart + int(params.get("retmax") or 20), CAP)
            pmids = pmids[retstart:stop]
        body = b"".join(self._by_pmid[p].xml for p in pmids if p in self._by_pmid)
        return Response(body=DOCTYPE + b"<PubmedArticleSet>" + body + b"</PubmedArticleSet>",
                        content_type="text/xml")


_PMID_TERMS = re.compile(r"^\s*\d+\[pmid\](\s+OR\s+\d+\[pmid\])*\s*$")


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    parts = [int(p) for p in value.replace("-", "/").split("/")]
    if len(parts) == 1:
        return date(parts[0], 1, 1) if default == date.min else date(parts[0], 12, 31)
    if len(parts) == 2:
        return date(parts[0], parts[1], 1) if default == date.min else \
            (date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1) - timedelta(days=1))
    return date(*parts[:3])


def _search_error(message: str) -> Response:
    return Response(body=ESEARCH_DOCTYPE + f"<eSearchResult><ERROR>{_escape(message)}</ERROR>"
                    "</eSearchResult>".encode(), content_type="text/xml")


def _fetch_error(message: str) -> Response:
    return Response(body=f'<?xml version="1.0" ?>\n<eFetchResult><ERROR>{_escape(message)}</ERROR>'
                    "</eFetchResult>".encode(), content_type="text/xml")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------- Europe PMC

_IDATE = re.compile(r"\s*AND\s+FIRST_IDATE:\[(\S+)\s+TO\s+(\S+)\]\s*$")


def results_from_recordings(bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """Every result of recorded Europe PMC search answers, once each (by source and id)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for body in bodies:
        for result in json.loads(body).get("resultList", {}).get("result", []):
            seen[(result.get("source"), result.get("id"))] = result
    return list(seen.values())


class EuropePmcHandler:
    """/search over a list of result objects: loose query matching, FIRST_IDATE ranges and
    cursorMark paging. Like the real service, the last page repeats its own cursor and an
    unknown cursor gets a 200 answer with only a version."""

    def __init__(self, results: Iterable[dict[str, Any]], *, filter_queries: bool = True,
                 max_page_size: int = 1000):
        self.results = list(results)
        self.filter_queries = filter_queries
        self.max_page_size = max_page_size  # the real service allows at most 1000

    def __call__(self, request: Request) -> Response:
        if not request.path.rstrip("/").endswith("/search"):
            return Response(404, b'{"errCode":404,"errMsg":"not found"}')
        query = request.params.get("query") or ""
        if not query.strip():
            return Response(400, b'{"errCode":400,"errMsg":"query is required"}')
        cursor = request.params.get("cursorMark") or "*"
        offset = 0 if cursor == "*" else _cursor_offset(cursor)
        if offset is None:
            return Response(body=b'{"version":"6.9"}')
        selected = self._select(query)
        size = min(int(request.params.get("pageSize") or 25), self.max_page_size)
        page = selected[offset: offset + size]
        more = offset + size < len(selected)
        return Response(body=json.dumps({
            "version": "6.9", "hitCount": len(selected),
            "nextCursorMark": f"AoE{offset + size:08d}" if more else cursor,
            "request": {"queryString": query, "resultType": request.params.get("resultType", "lite"),
                        "cursorMark": cursor, "pageSize": size},
            "resultList": {"result": page}}).encode())

    def _select(self, query: str) -> list[dict[str, Any]]:
        window = _IDATE.search(query)
        if window:
            query = query[: window.start()]
        chosen = []
        for result in self.results:
            indexed = result.get("firstIndexDate") or ""
            if window and not (window.group(1) <= indexed <= window.group(2)):
                continue
            if self.filter_queries and not query_matches(json.dumps(result, ensure_ascii=False), query):
                continue
            chosen.append(result)
        return chosen


def _cursor_offset(cursor: str) -> int | None:
    return int(cursor[3:]) if cursor.startswith("AoE") and cursor[3:].isdigit() else None
