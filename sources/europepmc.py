"""Europe PMC REST search (cursorMark paging) -> Records: journal articles and preprints
(source PPR), carrying pmid/pmcid/doi so they merge with PubMed's copy of the same paper,
and linking a preprint to its journal version when Europe PMC names it. Parsing is pure."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import lxml.html
from lxml import etree

from sources.http import HttpClient, ParseError, SourceError
from sources.jsonshape import cursor, load_object, text, whole
from sources.literature import SAFE_PARSER, evidence_label, lang_of, window_start
from sources.records import ParsedPage, Record, find_nct_ids, id_page, parse_each, pubmed_url

SOURCE = "europepmc"
RATE = 5.0  # Europe PMC documents no limit; stay polite
PAGE_SIZE = 1000
FIELD_TAG = re.compile(r"\b[A-Z][A-Z_]*:")
QUOTED = re.compile(r'"[^"]*"')
PUBLISHED_AS = re.compile(r"preprint (of|in)|published (in|as)", re.IGNORECASE)


def build_params(query: str, *, start: date, end: date, page_size: int = PAGE_SIZE) -> dict[str, str]:
    """Search parameters for one topic query, limited to records first indexed in [start, end]."""
    if not query.strip():
        raise ValueError("a europepmc query must not be empty")
    return {"query": f"({in_title_abstract_keywords(query)}) AND "
                     f"FIRST_IDATE:[{start.isoformat()} TO {end.isoformat()}]",
            "format": "json", "resultType": "core", "pageSize": str(page_size)}


def fetch_since(client: HttpClient, base_url: str, query: str, cursor: str | None, *,
                today: date, backfill_days: int, lookback_days: int = 0) -> Iterator[ParsedPage]:
    """Every page of the query's records first indexed from `lookback_days` before the cursor's
    day (see literature.window_start) to `today`."""
    start = window_start(cursor, today, backfill_days, lookback_days)
    return fetch_pages(client, base_url, build_params(query, start=start, end=today))


def in_title_abstract_keywords(query: str) -> str:
    """A query without field tags searches full text and reference lists too (noise, and a far
    larger first poll): it is asked of titles, abstracts and keywords instead. A query that
    names its fields (TITLE_ABS:, MESH: ...) is sent as written."""
    if FIELD_TAG.search(QUOTED.sub(" ", query)):
        return query
    return f"TITLE_ABS:({query}) OR KW:({query})"


def fetch_pages(client: HttpClient, base_url: str, params: Mapping[str, str]) -> Iterator[ParsedPage]:
    """Yield every page, parsed once, following nextCursorMark until it is missing, repeats
    the current cursor, or a page comes back empty."""
    cursor = "*"
    seen: set[str] = set()
    while True:
        page = parse_page(client.get(f"{base_url.rstrip('/')}/search",
                                     params={**params, "cursorMark": cursor}).content)
        yield page
        following = page.next
        if not following or following == cursor or not (page.records or page.skipped):
            return
        if following in seen:
            raise ParseError(f"Europe PMC repeated cursorMark {following!r}; stopping to avoid a loop")
        seen.add(cursor)
        cursor = following


def parse_page(body: bytes) -> ParsedPage:
    """One search answer -> Records; a result that cannot be read is skipped and reported."""
    data = _load(body)
    records, skipped = parse_each(_results(data), parse_result, "Europe PMC result")
    return ParsedPage(records, cursor(data, "nextCursorMark", "Europe PMC"),
                      whole(data, "hitCount"), skipped)


def parse_result(result: Mapping[str, Any]) -> Record:
    """One result (lite or core) -> Record; source PPR is a preprint."""
    source, ident = str(result.get("source") or ""), str(result.get("id") or "")
    preprint = source == "PPR"
    ids = {"pmid": _str(result.get("pmid")), "pmcid": _str(result.get("pmcid")),
           "doi": _str(result.get("doi"))}
    if not any(ids.values()) and source and ident:
        ids["url"] = europepmc_url(source, ident)
    title = plain_text(result.get("title")) or f"Europe PMC {source}/{ident}"
    summary = abstract_text(result.get("abstractText"))
    pub_types = _pub_types(result) + (["preprint"] if preprint else [])
    languages = [result["language"]] if isinstance(result.get("language"), str) else []
    return Record(
        source=SOURCE, kind="preprint" if preprint else "article", ids=ids, title=title,
        url=_url(ids, source, ident), summary=summary,
        published=text(result, "electronicPublicationDate") or text(result, "firstPublicationDate")
        or _str(result.get("pubYear")),
        evidence=evidence_label(pub_types), mentions=find_nct_ids(f"{title} {summary}"),
        details=_details(result, pub_types, preprint),
        lang=lang_of(languages),
    )


def _details(result: Mapping[str, Any], pub_types: list[str], preprint: bool) -> dict[str, Any]:
    details = {
        "authors": _authors(result),
        "journal": _journal(result),
        "publication_types": pub_types,
        "europepmc_id": f"{result.get('source')}/{result.get('id')}",
        "first_index_date": text(result, "firstIndexDate"),
        "cited_by": whole(result, "citedByCount"),
        "open_access": result.get("isOpenAccess") == "Y",
        "mesh": [m.get("descriptorName") for m in _list(result, "meshHeadingList", "meshHeading")
                 if isinstance(m, dict) and m.get("descriptorName")],
    }
    related = published_versions(result) if preprint else []
    if related:
        details["related"] = related
    return details


def published_versions(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """The journal version(s) a preprint names in its commentCorrectionList, as links."""
    related = []
    for item in _list(result, "commentCorrectionList", "commentCorrection"):
        if not isinstance(item, dict) or not PUBLISHED_AS.search(str(item.get("type") or "")):
            continue
        scheme = {"MED": "pmid", "PMC": "pmcid"}.get(str(item.get("source") or ""))
        if scheme and item.get("id"):
            related.append({"relation": "published_as", "scheme": scheme, "value": str(item["id"])})
    return related


def europepmc_url(source: str, ident: str) -> str:
    return f"https://europepmc.org/article/{source}/{ident}"


def plain_text(value: Any) -> str:
    """Text of a title that may carry HTML markup (<i>, <sup>), whitespace collapsed."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return " ".join(lxml.html.fragment_fromstring(value, create_parent="div").text_content().split())


def abstract_text(value: Any) -> str:
    """An abstract whose sections are <h4> headings becomes `LABEL: text` lines."""
    if not isinstance(value, str) or not value.strip():
        return ""
    root = lxml.html.fragment_fromstring(value, create_parent="div")
    for heading in root.iter("h4", "h3"):
        label = " ".join(heading.text_content().split()).rstrip(":")
        heading.clear(keep_tail=True)
        heading.text = f"\n{label.upper()}: "
    lines = (" ".join(line.split()) for line in root.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def _load(body: bytes) -> dict[str, Any]:
    if body.lstrip()[:1] == b"<":
        raise SourceError(f"Europe PMC error: {_error_bean(body)}")
    data = load_object(body, "Europe PMC")
    if "resultList" not in data:
        detail = text(data, "errMsg") or "no resultList (an unknown or expired cursorMark?)"
        raise ParseError(f"Europe PMC answer has {detail}")
    if not isinstance(data["resultList"], dict | None):
        raise ParseError("Europe PMC sent a resultList that is not an object")
    return data


def _error_bean(body: bytes) -> str:
    try:
        root = etree.fromstring(body, SAFE_PARSER)
    except etree.XMLSyntaxError:
        return "an unreadable XML answer"
    return " ".join((root.findtext("errMsg") or root.findtext(".//errMsg") or f"<{root.tag}>").split())


def _results(data: Mapping[str, Any]) -> list[Any]:
    return _list(data, "resultList", "result")


def _pub_types(result: Mapping[str, Any]) -> list[str]:
    listed = _list(result, "pubTypeList", "pubType")
    if listed:
        return [str(t) for t in listed]
    return [t.strip() for t in str(result.get("pubType") or "").split(";") if t.strip()]


def _authors(result: Mapping[str, Any]) -> list[str]:
    listed = [a.get("fullName") or a.get("collectiveName") for a in _list(result, "authorList", "author")
              if isinstance(a, dict)]
    if any(listed):
        return [a for a in listed if a]
    return [a.strip() for a in str(result.get("authorString") or "").rstrip(".").split(",") if a.strip()]


def _journal(result: Mapping[str, Any]) -> str | None:
    info = result.get("journalInfo")
    if isinstance(info, dict) and isinstance(info.get("journal"), dict):
        return text(info["journal"], "title")
    return text(result, "journalTitle") or text(result.get("bookOrReportDetails"), "publisher")


def _url(ids: dict[str, str | None], source: str, ident: str) -> str:
    if ids.get("pmid"):
        return pubmed_url(ids["pmid"])
    if ids.get("doi"):
        return id_page("doi", ids["doi"])
    return europepmc_url(source, ident)


def _list(result: Mapping[str, Any], outer: str, inner: str) -> list[Any]:
    container = result.get(outer)
    items = container.get(inner) if isinstance(container, dict) else None
    return items if isinstance(items, list) else []


def _str(value: Any) -> str | None:
    """An identifier given as a string or a number; anything else is no identifier."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None
