"""Reading PubMed's E-utilities answers: a streaming, entity-safe parse of PubmedArticleSet XML
into Records, esearch answers, and the <ERROR> documents NCBI sends instead. Pure: bytes in."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

from lxml import etree

from sources.http import ParseError, SourceError
from sources.jsonshape import load_object, text, texts, whole
from sources.literature import SAFE_PARSER, evidence_label, lang_of
from sources.records import Record, find_nct_ids, pubmed_url

SOURCE = "pubmed"
ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
ENTITY_REFUSAL = ("PubMed XML refused: its DOCTYPE declares entities (an entity-expansion "
                  "or external-entity attack, never sent by NCBI)")
ROOT_TAGS = ("PubmedArticleSet", "eFetchResult", "eSearchResult")
MONTHS = {m: f"{n:02d}" for n, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
NOTED_CORRECTIONS = ("RetractionIn", "RetractionOf", "ErratumIn", "ErratumFor",
                     "ExpressionOfConcernIn", "RetractedandRepublishedIn", "UpdateIn")


class HistoryExpired(SourceError):
    """The WebEnv is no longer on NCBI's history server: the search has to be run again."""


@dataclass(slots=True)
class ParsedBatch:
    """One efetch answer: its Records, PMIDs PubMed withdrew, and what could not be read."""

    records: list[Record] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_batch(source: bytes | IO[bytes]) -> ParsedBatch:
    """Every article of one PubmedArticleSet; raises ParseError if the XML is unreadable."""
    batch = ParsedBatch()
    batch.records.extend(iter_records(source, batch))
    return batch


def iter_records(source: bytes | IO[bytes], batch: ParsedBatch) -> Iterator[Record]:
    """Stream Records out of PubmedArticleSet XML with flat memory, noting DeleteCitation
    PMIDs and unreadable articles on `batch`. Entities are never expanded or fetched."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    # End events only (start events cost a third of the walk); the root is checked at the
    # first one, before any record is made.
    events = etree.iterparse(stream, events=("end",), tag=ROOT_TAGS + ARTICLE_TAGS + ("ERROR",),
                             resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    rooted = checked = False
    try:
        for _event, element in events:
            if not checked:
                rooted, checked = _check_root(element.getroottree().getroot()), True
            record = _on_end(element, batch)
            if record is not None:
                yield record
    except etree.XMLSyntaxError as error:
        if any(m in str(error).lower() for m in ("amplification", "entity reference loop")):
            # libxml2's own guard against entity expansion fired before our DOCTYPE check
            raise ParseError(ENTITY_REFUSAL) from None
        raise ParseError(f"PubMed sent malformed XML: {error}") from None
    if not rooted:
        raise ParseError("not PubMed XML: no PubmedArticleSet in the answer")


def _check_root(root: Any) -> bool:
    """True if the document is a PubMed answer (refusing DOCTYPEs that declare entities)."""
    if root.tag not in ROOT_TAGS:
        return False
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.entities()):
        raise ParseError(ENTITY_REFUSAL)
    return True


def _on_end(element: Any, batch: ParsedBatch) -> Record | None:
    tag = element.tag
    if tag == "ERROR":
        raise eutils_error(_text(element))
    if tag not in ARTICLE_TAGS:
        return None
    record = None
    if tag == "DeleteCitation":
        batch.deleted.extend(p.text.strip() for p in element.iterfind("PMID") if p.text)
    else:
        try:
            record = parse_article(element) if tag == "PubmedArticle" else parse_book(element)
        except (ValueError, TypeError, AttributeError) as error:
            batch.skipped.append(f"PMID {element.findtext('.//PMID') or '?'} skipped: {error}")
    element.clear(keep_tail=False)
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]
    return record


def parse_article(element: Any) -> Record:
    """One <PubmedArticle> -> Record. Each element's children are gathered in one pass
    (`_kids`): a find() with a path costs microseconds, and an article needs dozens."""
    top = _kids(element)
    citation = top.get("MedlineCitation")
    pmid = _required_pmid(citation)
    cit = _kids(citation)
    article = cit.get("Article")
    if article is None:
        raise ValueError("no Article")
    art, data = _kids(article), _kids(top.get("PubmedData"))
    ids = _article_ids(data.get("ArticleIdList"))
    ids.setdefault("doi", _elocation_doi(article))
    pub_types = _texts(article, "PublicationTypeList/PublicationType")
    corrections = _corrections(cit.get("CommentsCorrectionsList"))
    retracted = "Retracted Publication" in pub_types or "RetractionIn" in corrections
    summary = abstract_text(art.get("Abstract"))
    vernacular = _text(art.get("VernacularTitle")) or None
    title = _text(art.get("ArticleTitle"))
    if not title or title.strip("[].") == "Not Available":
        title = vernacular or f"PubMed {pmid}"
    languages = _texts(article, "Language")
    journal = _kids(art["Journal"]) if "Journal" in art else None
    issue = _kids(journal.get("JournalIssue")) if journal is not None else {}
    return Record(
        source=SOURCE, kind="preprint" if "Preprint" in pub_types else "article",
        ids={"pmid": pmid, **ids}, title=title, url=pubmed_url(pmid), summary=summary,
        title_alt=vernacular,
        published=pub_date(issue.get("PubDate")),
        updated=_ymd(cit.get("DateRevised")),
        evidence=evidence_label(pub_types, retracted=retracted),
        mentions=_mentions(art.get("DataBankList"), title, summary),
        details={
            "authors": _authors(art.get("AuthorList")),
            "journal": _text(journal.get("Title")) if journal is not None else None,
            "journal_abbrev": _findtext(journal, "ISOAbbreviation"),
            "volume": _findtext(issue, "Volume"),
            "issue": _findtext(issue, "Issue"),
            "pages": _findtext(_kids(art.get("Pagination")), "MedlinePgn"),
            "publication_types": pub_types,
            "mesh": _texts(citation, "MeshHeadingList/MeshHeading/DescriptorName"),
            "keywords": _texts(citation, "KeywordList/Keyword"),
            "language": languages,
            "other_abstracts": [{"language": o.get("Language"), "text": abstract_text(o)}
                                for o in citation.iterchildren("OtherAbstract")],
            "corrections": corrections,
            "retraction": corrections.get("RetractionIn", []),
            "errata": corrections.get("ErratumIn", []),
            "epub_date": _ymd(art.get("ArticleDate")),
            "entrez_date": _ymd(next((d for d in data["History"].iterchildren("PubMedPubDate")
                                      if d.get("PubStatus") == "entrez"), None))
            if data.get("History") is not None else None,
            "citation_status": citation.get("Status"),
            "publication_status": _findtext(data, "PublicationStatus"),
        },
        lang=lang_of(languages),
    )


def _kids(element: Any) -> dict[str, Any]:
    """Tag -> the first child element with that tag ({} for no element)."""
    return {child.tag: child for child in reversed(element)} if element is not None else {}


def _findtext(kids: dict[str, Any] | None, tag: str) -> str | None:
    """What element.findtext(tag) gives, from `_kids` (None when there is no such child)."""
    child = kids.get(tag) if kids else None
    return None if child is None else child.text or ""


def parse_book(element: Any) -> Record:
    """One <PubmedBookArticle> (GeneReviews, StatPearls ...) -> Record."""
    document = element.find("BookDocument")
    pmid = _required_pmid(document)
    book = document.find("Book")
    pub_types = _texts(document, "PublicationType")
    summary = abstract_text(document.find("Abstract"))
    book_title = _text(book.find("BookTitle")) if book is not None else ""
    title = _text(document.find("ArticleTitle")) or book_title or f"PubMed {pmid}"
    languages = _texts(document, "Language")
    accession = {a.get("IdType"): (a.text or "").strip() for a in document.iterfind("ArticleIdList/ArticleId")}
    return Record(
        source=SOURCE, kind="article", ids={"pmid": pmid}, title=title, url=pubmed_url(pmid),
        summary=summary, published=pub_date(book.find("PubDate") if book is not None else None),
        evidence=evidence_label(pub_types), mentions=find_nct_ids(f"{title} {summary}"),
        details={"book": book_title, "book_accession": accession.get("bookaccession"),
                 "publisher": book.findtext("Publisher/PublisherName") if book is not None else None,
                 "authors": _authors(document.find("AuthorList[@Type='authors']")),
                 "editors": _authors(book.find("AuthorList[@Type='editors']") if book is not None else None),
                 "publication_types": pub_types, "language": languages},
        lang=lang_of(languages),
    )


def abstract_text(abstract: Any) -> str:
    """Every AbstractText section, labelled (`METHODS: ...`), inline markup kept as text."""
    if abstract is None:
        return ""
    parts = []
    for section in abstract.iterfind("AbstractText"):
        text = _text(section)
        label = (section.get("Label") or "").strip()
        if text:
            parts.append(f"{label}: {text}" if label else text)
    return "\n".join(parts)


def pub_date(pubdate: Any) -> str | None:
    """PubDate as given: `2023-05-04`, `2023-05`, `2013 Spring` or MedlineDate `2021 Jan-Feb`."""
    if pubdate is None:
        return None
    parts = _kids(pubdate)
    medline = _findtext(parts, "MedlineDate")
    if medline:
        return " ".join(medline.split())
    year, month, day, season = (_findtext(parts, t) for t in ("Year", "Month", "Day", "Season"))
    if year and season:
        return f"{year} {season}"
    month = MONTHS.get((month or "")[:3].title(), month)
    if month and month.isdigit():
        return "-".join(p.zfill(2) if i else p for i, p in enumerate(filter(None, [year, month, day])))
    return " ".join(filter(None, [year, month, day])) or None


def _required_pmid(parent: Any) -> str:
    pmid = (parent.findtext("PMID") or "").strip() if parent is not None else ""
    if not pmid.isdigit():
        raise ValueError("no PMID")
    return pmid


def _article_ids(id_list: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    if id_list is None:
        return ids
    for item in id_list.iterfind("ArticleId"):
        scheme = {"doi": "doi", "pmc": "pmcid"}.get(item.get("IdType") or "")
        if scheme and item.text and item.text.strip():
            ids.setdefault(scheme, item.text.strip())
    return ids


def _elocation_doi(article: Any) -> str | None:
    for location in article.iterchildren("ELocationID"):
        if location.get("EIdType") == "doi" and location.text:
            return location.text.strip()
    return None


def _corrections(corrections_list: Any) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    if corrections_list is None:
        return notes
    for item in corrections_list.iterchildren("CommentsCorrections"):
        kind = item.get("RefType") or ""
        if kind in NOTED_CORRECTIONS:
            pmid = item.findtext("PMID")
            source = " ".join((item.findtext("RefSource") or "").split())
            notes.setdefault(kind, []).append(f"{source} (PMID {pmid.strip()})" if pmid else source)
    return notes


def _mentions(databanks: Any, title: str, summary: str) -> list[str]:
    banks = databanks.iterchildren("DataBank") if databanks is not None else ()
    registered = [(n.text or "").strip().upper() for bank in banks
                  if (bank.findtext("DataBankName") or "").strip() == "ClinicalTrials.gov"
                  for n in bank.iterfind("AccessionNumberList/AccessionNumber")]
    found = dict.fromkeys(n for n in registered if n.startswith("NCT"))
    found.update(dict.fromkeys(find_nct_ids(f"{title} {summary}")))
    return list(found)


def _authors(author_list: Any) -> list[str]:
    if author_list is None:
        return []
    names = []
    for author in author_list.iterfind("Author"):
        parts = {child.tag: child for child in author}
        if "CollectiveName" in parts:
            name = _text(parts["CollectiveName"])
        else:
            given = parts.get("Initials", parts.get("ForeName"))
            name = " ".join(filter(None, (_text(parts.get("LastName")), _text(given), _text(parts.get("Suffix")))))
        if name:
            names.append(name)
    return names


def _ymd(element: Any) -> str | None:
    if element is None:
        return None
    children = _kids(element)
    parts = [_findtext(children, t) for t in ("Year", "Month", "Day")]
    if not parts[0]:
        return None
    return "-".join(p.zfill(2) if i else p for i, p in enumerate(parts) if p)


def _texts(parent: Any, path: str) -> list[str]:
    """The text of every element at `path` (leaves: their own text; others: all of it)."""
    return [t for t in (_text(e) for e in _find_all(path)(parent)) if t]


_PATHS: dict[str, Any] = {}


def _find_all(path: str) -> Any:
    """A compiled XPath for `path` (much faster than ElementPath for repeated lookups)."""
    if path not in _PATHS:
        _PATHS[path] = etree.XPath(path)
    return _PATHS[path]


def _text(element: Any) -> str:
    """All text of a mixed-content element (<i>, <sup>, <sub>, MathML), whitespace collapsed."""
    if element is None:
        return ""
    text = element.text or "" if len(element) == 0 else "".join(element.itertext())
    return " ".join(text.split())


# ---------------------------------------------------------------- E-utilities answers

# What esearch says it did not search for, XML element or JSON list -> how we say it.
SEARCH_WARNINGS = {
    ("ErrorList/PhraseNotFound", "errorlist", "phrasesnotfound"): "PubMed ignored '{}' (not found)",
    ("ErrorList/FieldNotFound", "errorlist", "fieldsnotfound"): "PubMed ignored the field '{}' (unknown)",
    ("WarningList/QuotedPhraseNotFound", "warninglist", "quotedphrasesnotfound"):
        "PubMed ignored '{}' (phrase not found)",
    ("WarningList/PhraseIgnored", "warninglist", "phrasesignored"): "PubMed ignored '{}'",
}


class SearchAnswer(NamedTuple):
    count: int
    webenv: str | None
    query_key: str | None
    ids: list[str]
    warnings: list[str]  # parts of the query PubMed did not search for


def eutils_error(message: str) -> SourceError:
    """Classify an <ERROR> (or JSON "error") message from E-utilities."""
    lowered = message.lower()
    if "unable to obtain query" in lowered or "webenv" in lowered:
        return HistoryExpired(f"PubMed history session expired: {message}", retriable=True)
    return SourceError(f"PubMed E-utilities error: {message}", retriable=transient(lowered))


def transient(message: str) -> bool:
    """Whether an E-utilities error message is one that passes (a rate limit, "Search Backend
    failed"), unlike the 9,999 retrieval cap, which NCBI also words as a backend failure."""
    lowered = message.lower()
    return ("rate limit" in lowered or "backend failed" in lowered) and "retstart" not in lowered


def transient_error(body: bytes) -> str | None:
    """The transient error an answer carries inside HTTP 200, if any (read from its head)."""
    head = " ".join(body[:2000].decode("utf-8", "replace").split())
    return head[:300] if transient(head) else None


def parse_search(body: bytes) -> SearchAnswer:
    """Count, WebEnv, QueryKey, ids and warnings from esearch XML or JSON; raises SourceError
    for an <ERROR>, a JSON error body, or something that is not an esearch answer."""
    if body.lstrip()[:1] == b"{":
        return _parse_search_json(body)
    try:
        root = etree.fromstring(body, SAFE_PARSER)
    except etree.XMLSyntaxError as error:
        raise ParseError(f"PubMed esearch sent malformed XML: {error}") from None
    error = root.findtext("ERROR")
    if error or root.tag != "eSearchResult":
        raise eutils_error(" ".join((error or f"unexpected <{root.tag}> answer").split()))
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise ParseError("PubMed esearch answer has no Count")
    warnings = [form.format(" ".join(_text(e).strip('"').split()))
                for (path, _, _), form in SEARCH_WARNINGS.items() for e in root.iterfind(path)
                if _text(e)]
    return SearchAnswer(int(count), root.findtext("WebEnv"), root.findtext("QueryKey"),
                        [i.text.strip() for i in root.iterfind("IdList/Id") if i.text], warnings)


def _parse_search_json(body: bytes) -> SearchAnswer:
    data = load_object(body, "PubMed esearch")
    if "error" in data:
        raise eutils_error(str(data["error"]))
    result = data.get("esearchresult")
    if not isinstance(result, dict):
        raise ParseError("PubMed esearch JSON has no esearchresult object")
    if result.get("ERROR"):
        raise eutils_error(str(result["ERROR"]))
    count = whole(result, "count")
    if count is None:
        raise ParseError(f"PubMed esearch JSON has no count (got {json.dumps(result.get('count'))[:40]})")
    warnings = [form.format(" ".join(value.strip('"').split()))
                for (_, group, key), form in SEARCH_WARNINGS.items()
                for value in texts(result.get(group), key)]
    return SearchAnswer(count, text(result, "webenv"), text(result, "querykey"),
                        texts(result, "idlist"), warnings)


def raise_for_error_document(body: bytes) -> None:
    """Raise the E-utilities error an efetch answer carries instead of articles, if any."""
    head = etree.iterparse(io.BytesIO(body), events=("start",), resolve_entities=False,
                           no_network=True, load_dtd=False, huge_tree=False)
    try:
        _, root = next(head)
    except (etree.XMLSyntaxError, StopIteration):
        return  # unreadable XML is the parser's to report, batch by batch
    if root.tag != "PubmedArticleSet":
        try:
            message = _text(etree.fromstring(body, SAFE_PARSER).find(".//ERROR")) or _text(root)
        except etree.XMLSyntaxError:
            message = f"unreadable <{root.tag}> answer"
        raise eutils_error(message or f"empty <{root.tag}> answer")
