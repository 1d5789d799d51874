"""News feeds (RSS 0.9x/1.0/2.0, Atom): fetch the bytes ourselves (shared client, conditional
GET from the validators kept in the feed's cursor, size cap), refuse what is not a feed or declares XML entities, parse with feedparser (which
never does HTTP here), strip HTML to text with BeautifulSoup, normalize links, and turn entries
into news Records."""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from sources.http import Fetched, HttpClient, ParseError, TooLarge
from sources.records import Record, find_nct_ids

FEED_MAX_BYTES = 10 * 1024 * 1024
SUMMARY_CHARS = 4000
PRESS_KINDS = {"regulator", "company", "press"}
PREPRINT_HOSTS = ("medrxiv.org", "biorxiv.org")
# Encodings to try when a feed declares none and is not UTF-8, by the feed's language.
FALLBACK_ENCODINGS = {"zh": "gb18030", "zh-cn": "gb18030", "zh-tw": "big5", "zh-hk": "big5"}
# Dates written in Chinese (年月日) come from Chinese sites: Beijing time.
BEIJING = timezone(timedelta(hours=8))
GOOGLE_PLACEHOLDER = "this feed is not available"
_TRACKING_RE = re.compile(
    r"^(utm_\w*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|_ga|_gl|igshid|"
    r"spm|ncid|cmpid|ref_src|at_medium|at_campaign|oc|__twitter_impression)$", re.IGNORECASE)
_ENTITY_DECLS = tuple("<!ENTITY".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_CJK_DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日(?:\s*(\d{1,2})[:：](\d{2}))?")
_DOI_RE = re.compile(r"\b10\.\d{4,9}/[^\s?#\"<>]+")
_BIORXIV_RE = re.compile(r"/content/(?:short/)?(\d{4}\.\d{2}\.\d{2}\.\d+)")
_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "embed", "template")

warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)


@dataclass(slots=True)
class ParsedFeed:
    """What one feed document holds: its records, entries skipped (and why), any bozo note."""

    title: str
    records: list[Record] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bozo: str | None = None


@dataclass
class FeedCursor:
    """A feed's stored state: HTTP validators, and the first-seen time of undated entries
    (so an entry without a date keeps the date it was first fetched, poll after poll)."""

    etag: str | None = None
    last_modified: str | None = None
    undated: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> FeedCursor:
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return cls()  # an unreadable cursor only costs one full fetch
        return cls(data.get("etag"), data.get("last_modified"), dict(data.get("undated") or {}))

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


def keep_first_dates(records: Sequence[Record], undated: Mapping[str, str]) -> dict[str, str]:
    """Undated records take the time they were first fetched (remembered in the cursor);
    returns what to remember for the entries the feed still carries."""
    remembered = {}
    for record in records:
        if record.details.get("date_missing"):
            record.published = undated.get(record.key, record.published)
            remembered[record.key] = record.published
    return remembered


def fetch_feed(client: HttpClient, url: str, *, etag: str | None = None,
               last_modified: str | None = None, max_bytes: int = FEED_MAX_BYTES) -> Fetched:
    """GET a feed with its stored validators; a 304 comes back as `Fetched.not_modified`."""
    return client.get(url, etag=etag, last_modified=last_modified, max_bytes=max_bytes)


def parse_feed(body: bytes, headers: Mapping[str, str], feed_name: str, lang: str | None,
               fetched_at: datetime, *, kind: str | None = None,
               base_url: str | None = None) -> ParsedFeed:
    """Feed bytes (plus response headers) -> Records. Raises ParseError when the bytes are not a
    feed, and TooLarge/ParseError for oversized bodies or entity declarations (never expanded)."""
    refuse_hostile(body, feed_name)
    response_headers = _response_headers(body, headers, lang, base_url)
    # feedparser's own HTML sanitizing and link rewriting are skipped: we keep no markup at all
    # (html_to_text below), and they are half of its parsing time.
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    bozo = _bozo_reason(parsed)
    if not parsed.get("version") and not parsed.entries:
        raise ParseError(f"feed {feed_name}: not a feed: {not_a_feed_reason(body, headers, bozo)}")
    if not parsed.entries and _fatal(parsed):
        raise ParseError(f"feed {feed_name}: unreadable, no entry could be recovered: {bozo}")
    result = ParsedFeed(title=html_to_text(parsed.feed.get("title", "")), bozo=bozo)
    context = _Context(feed_name, lang, fetched_at, kind, base_url, bozo)
    for number, entry in enumerate(parsed.entries, 1):
        record = entry_record(entry, context)
        if isinstance(record, str):
            result.skipped.append(f"feed {feed_name} entry {number}: {record}")
        else:
            result.records.append(record)
    return result


def refuse_hostile(body: bytes, feed_name: str) -> None:
    """Refuse bodies over the cap and documents declaring entities (billion-laughs bombs)."""
    if len(body) > FEED_MAX_BYTES:
        raise TooLarge(f"feed {feed_name}: {len(body)} bytes exceeds the {FEED_MAX_BYTES}-byte limit")
    head = body[:65536]
    if any(decl in head for decl in _ENTITY_DECLS):
        raise ParseError(f"feed {feed_name}: refused: the document declares XML entities "
                         "(<!ENTITY>), which hccwatch never expands")


def not_a_feed_reason(body: bytes, headers: Mapping[str, str], bozo: str | None) -> str:
    """A one-line reason for a body that holds no feed: empty, HTML, or unreadable XML."""
    if not body.strip():
        return "the response was empty"
    head = body[:2048].decode("utf-8", "replace").lower()
    content_type = _header(headers, "content-type") or "no content type"
    if "<html" in head or "<!doctype html" in head:
        title = BeautifulSoup(body[:65536], "html.parser").title
        label = f" titled {html_to_text(title.get_text())!r}" if title else ""
        return f"got an HTML page{label} ({content_type})"
    return f"{bozo or 'no RSS or Atom element found'} ({content_type})"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _response_headers(body: bytes, headers: Mapping[str, str], lang: str | None,
                      base_url: str | None) -> dict[str, str]:
    """Headers for feedparser: content type (with a language-based charset guess when nothing
    declares one and the bytes are not UTF-8) and the final URL to resolve relative links."""
    content_type = _header(headers, "content-type") or "application/xml"
    if "charset" not in content_type.lower() and not _declares_encoding(body) \
            and not _is_utf8(body):
        fallback = FALLBACK_ENCODINGS.get((lang or "").lower()) or \
            FALLBACK_ENCODINGS.get((lang or "").lower().split("-")[0])
        if fallback:
            content_type = f"{content_type.split(';')[0]}; charset={fallback}"
    result = {"content-type": content_type}
    if base_url:
        result["content-location"] = base_url
    return result


def _declares_encoding(body: bytes) -> bool:
    head = body.lstrip()[:200]
    return head.startswith(b"<?xml") and b"encoding=" in head.split(b"?>")[0]


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fatal(parsed: Any) -> bool:
    """A bozo problem worse than a charset mix-up (which feedparser repairs by itself)."""
    error = parsed.get("bozo_exception")
    return bool(parsed.get("bozo")) and not isinstance(
        error, (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown))


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    error = parsed.get("bozo_exception")
    return f"{type(error).__name__}: {error}" if error else "malformed feed"


@dataclass(frozen=True, slots=True)
class _Context:
    feed_name: str
    lang: str | None
    fetched_at: datetime
    kind: str | None
    base_url: str | None
    bozo: str | None


def entry_record(entry: Any, ctx: _Context) -> Record | str:
    """One feed entry -> a Record, or the reason it was skipped."""
    publisher = entry.get("source") or {}
    title = strip_publisher(html_to_text(entry.get("title", "")), publisher.get("title"))
    if not title:
        return "no title"
    if title.casefold().rstrip(".") == GOOGLE_PLACEHOLDER:
        return "Google News placeholder item"
    url = entry_url(entry, ctx.base_url)
    if url is None:
        return f"no http(s) link ({title[:60]!r})"
    summary = entry_summary(entry)
    if strip_publisher(summary, publisher.get("title"), dashes=(" ",)) == title:
        summary = ""  # Google News repeats the title and publisher as the summary
    published, missing = entry_date(entry, ctx.fetched_at)
    details: dict[str, Any] = {"feed": ctx.feed_name}
    if publisher.get("title"):
        details["source_name"] = html_to_text(publisher["title"])
    if publisher.get("href"):
        details["source_url"] = publisher["href"]
    if missing:
        details["date_missing"] = True
    if ctx.bozo:
        details["bozo"] = ctx.bozo
    kind = "preprint" if _is_preprint(url, ctx.kind) else "news"
    return Record(source=f"feed:{ctx.feed_name}", kind=kind, ids=entry_ids(entry, url, kind),
                  title=title, url=url, summary=summary, published=published, lang=ctx.lang,
                  evidence=_evidence(kind, ctx.kind), details=details,
                  mentions=find_nct_ids(f"{title} {summary}"))


def _is_preprint(url: str, feed_kind: str | None) -> bool:
    host = urlsplit(url).hostname or ""
    return feed_kind == "preprint" or any(host == h or host.endswith("." + h) for h in PREPRINT_HOSTS)


def _evidence(kind: str, feed_kind: str | None) -> str | None:
    if kind == "preprint":
        return "preprint"
    return "press release" if feed_kind in PRESS_KINDS else None


def entry_ids(entry: Any, url: str, kind: str) -> dict[str, str]:
    """The normalized URL, plus the DOI a preprint entry names (so it meets Europe PMC's copy)."""
    ids = {"url": url}
    if kind == "preprint":
        doi = preprint_doi(entry, url)
        if doi:
            ids["doi"] = doi
    return ids


def preprint_doi(entry: Any, url: str) -> str | None:
    for text in (entry.get("dc_identifier"), entry.get("prism_doi"), entry.get("id"), url):
        match = _DOI_RE.search(text or "")
        if match:
            return match.group(0).rstrip(".").lower()
    match = _BIORXIV_RE.search(url)
    return f"10.1101/{match.group(1)}" if match else None


def entry_url(entry: Any, base_url: str | None) -> str | None:
    """The entry's link (or its guid when that is a link), resolved and normalized; Google News
    wrappers give way to the publisher URL when their id still carries it."""
    for candidate in (entry.get("link"), entry.get("id")):
        if not candidate:
            continue
        try:
            absolute = urljoin(base_url or "", candidate.strip())
            if urlsplit(absolute).scheme in ("http", "https"):
                return normalize_url(google_news_target(absolute) or absolute)
        except ValueError:  # e.g. a bad port or an unclosed IPv6 bracket: not a usable link
            continue
    return None


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped,
    remaining parameters sorted, no trailing slash (except the root). A URL too broken to
    take apart (bad port, unclosed IPv6 bracket) comes back stripped but otherwise as given."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = port if port and (scheme, port) not in (("http", 80), ("https", 443)) else None
    netloc = f"{host}:{port}" if port else host
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING_RE.match(k))
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def google_news_target(url: str) -> str | None:
    """The publisher URL inside an old-style Google News article id (base64 protobuf, field 4);
    None for other links and for the opaque ids Google has issued since mid-2024."""
    parts = urlsplit(url)
    if parts.hostname != "news.google.com" or "/articles/" not in parts.path:
        return None
    token = parts.path.rsplit("/", 1)[-1]
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    target = _protobuf_string(data, field_tag=0x22)
    if target and urlsplit(target).scheme in ("http", "https"):
        return target
    return None


def _protobuf_string(data: bytes, *, field_tag: int) -> str | None:
    """The first length-delimited field with this tag in a tiny protobuf message."""
    index = data.find(bytes([field_tag]))
    if index < 0:
        return None
    length, shift, index = 0, 0, index + 1
    while index < len(data):
        byte = data[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
    raw = data[index:index + length]
    if len(raw) != length:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def strip_publisher(title: str, publisher: str | None,
                    dashes: Sequence[str] = (" - ", " – ", " — ")) -> str:
    """Google News titles end in ' - Publisher'; the publisher is kept separately."""
    if publisher:
        for dash in dashes:
            suffix = f"{dash}{publisher.strip()}"
            if title.endswith(suffix):
                return title[: -len(suffix)].strip()
    return title


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: scripts and styles dropped, entities decoded,
    whitespace collapsed. Text without markup comes back as it was (trimmed)."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    soup = BeautifulSoup(markup, "html.parser")  # for small fragments faster than lxml
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


def entry_summary(entry: Any) -> str:
    """Summary as text (falling back to the first content block), capped in length."""
    text = html_to_text(entry.get("summary", ""))
    if not text and entry.get("content"):
        text = html_to_text(entry["content"][0].get("value", ""))
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return text


def entry_date(entry: Any, fetched_at: datetime) -> tuple[str, bool]:
    """ISO published (or updated) time, and whether it was missing (then: the fetch time).
    CJK dates feedparser misreads ('2024年3月5日') are read here instead."""
    for name in ("published", "updated", "created"):
        raw = entry.get(name)
        if not raw:
            continue
        when = _cjk_date(raw) if _CJK_DATE_RE.search(raw) else _struct_date(entry.get(f"{name}_parsed"))
        if when is not None:
            return when, False
    return _iso(fetched_at), True


def _cjk_date(raw: str) -> str | None:
    match = _CJK_DATE_RE.search(raw)
    year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
    try:
        return _iso(datetime(year, month, day, hour, minute, tzinfo=BEIJING))
    except ValueError:
        return None


def _struct_date(value: Any) -> str | None:
    if not value:
        return None
    return _iso(datetime.fromtimestamp(calendar.timegm(value), UTC))


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
