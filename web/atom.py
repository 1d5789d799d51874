"""Atom 1.0 documents from findings (for feed readers): `/feeds/*.atom` and
`hccwatch findings --format atom`. Built with ElementTree, so every value is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"


def _timestamp(value: str | None) -> str:
    if value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_id(item: dict[str, Any]) -> str:
    return f"urn:hccwatch:finding:{item['key']}"


def atom_feed(items: Sequence[dict[str, Any]], *, title: str, feed_id: str,
              self_url: str | None = None) -> str:
    """An Atom feed, one entry per finding dict (the `findings --format json` shape)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    updated = max((_timestamp(i.get("first_seen")) for i in items), default=_timestamp(None))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "hccwatch"
    if self_url:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    for item in items:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = item.get("title") or item["key"]
        ET.SubElement(entry, f"{{{ATOM}}}id").text = _entry_id(item)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _timestamp(item.get("first_seen"))
        if (item.get("url") or "").startswith(("http://", "https://")):
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=item["url"])
        label = " · ".join(filter(None, [item.get("kind"), item.get("evidence"), item.get("status")]))
        summary = (label + ". " if label else "") + (item.get("summary") or "")[:1000]
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = summary
        for topic in item.get("topics") or []:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=topic)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True)
