"""Atom 1.0 documents from findings (for feed readers): `/feeds/*.atom` and
`hccwatch findings --format atom`. Built with ElementTree, so every value is escaped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from store.db import iso, utcnow
from store.vocab import is_http_url, parse_time

ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 forbids; ElementTree would write them and make the feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _timestamp(value: str | None) -> str:
    return iso(parse_time(value) or utcnow())


def _entry_id(item: dict[str, Any]) -> str:
    return f"urn:hccwatch:finding:{quote(item['key'], safe=':/@')}"


def finding_href(key: str) -> str:
    """The path of a finding's page in the web app."""
    return "/findings/" + quote(key, safe=":@")


def atom_feed(items: Sequence[dict[str, Any]], *, title: str, feed_id: str,
              self_url: str | None = None, base_url: str | None = None) -> str:
    """An Atom feed, one entry per finding dict (the `findings --format json` shape).

    With `base_url` (the web page's root) each entry also links to its page there."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", title)
    _sub(feed, "id", feed_id)
    _sub(feed, "updated", max((_timestamp(i.get("first_seen")) for i in items),
                              default=_timestamp(None)))
    _sub(_sub(feed, "author"), "name", "hccwatch")
    _sub(feed, "generator", "hccwatch")
    if self_url:
        _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    if base_url:
        _sub(feed, "link", rel="alternate", href=base_url, type="text/html")
    for item in items:
        _entry(feed, item, base_url)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True)


def _entry(feed: ET.Element, item: dict[str, Any], base_url: str | None) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "title", item.get("title") or item["key"])
    _sub(entry, "id", _entry_id(item))
    _sub(entry, "updated", _timestamp(item.get("first_seen")))
    page = base_url.rstrip("/") + finding_href(item["key"]) if base_url else None
    linked = is_http_url(item.get("url"))
    if linked:
        _sub(entry, "link", rel="alternate", href=item["url"])
        if page:
            _sub(entry, "link", rel="related", href=page, type="text/html")
    elif page:
        _sub(entry, "link", rel="alternate", href=page, type="text/html")
    label = " · ".join(filter(None, [item.get("kind"), item.get("evidence"), item.get("status")]))
    summary = (label + ". " if label else "") + (item.get("summary") or "")[:1000]
    # An entry without an alternate link must carry content (RFC 4287, 4.1.2).
    _sub(entry, "summary" if linked or page else "content", summary, type="text")
    for topic in item.get("topics") or []:
        _sub(entry, "category", term=topic)
