"""Plain-text renderings for the terminal: one finding (`hccwatch show`) and source health
with the alert destinations (`hccwatch status`, `hccwatch alerts`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store.vocab import (
    code_text,
    contact_line,
    field_label,
    kind_count,
    local_minute,
    site_contacts,
)


def _field(lines: list[str], label: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        lines.append(f"{label:<18} {value}")


def finding_text(data: dict[str, Any], timezone: str | None = None) -> str:
    """The finding as text; codes in both languages, times in `timezone` (the watchlist's)."""
    details = data.get("details") or {}
    lines = [data["title"], "=" * min(len(data["title"]), 78)]
    _field(lines, "Key", data["key"])
    _field(lines, "Kind", data["kind"] + (" (not fetched yet)" if data.get("placeholder") else ""))
    _field(lines, "Evidence", data.get("evidence"))
    _field(lines, "Why", " · ".join(data.get("why") or []))
    _field(lines, "为何相关", " · ".join(data.get("why_zh") or []))
    if data["kind"] == "trial":
        _field(lines, "Status", code_text(data.get("status")))
        _field(lines, "Phases", ", ".join(code_text(p) for p in data.get("phases") or []))
        _field(lines, "Study type", code_text(details["study_type"]) if details.get("study_type") else None)
        _field(lines, "Sponsor", details.get("sponsor"))
        _field(lines, "Conditions", "; ".join(details.get("conditions") or []))
        _field(lines, "Interventions", "; ".join(i.get("name") or "" for i in details.get("interventions") or []))
        _field(lines, "Enrollment", details.get("enrollment"))
        _field(lines, "Start", details.get("start_date"))
        _field(lines, "Completion", details.get("completion_date"))
        _field(lines, "Results posted", details.get("results_first_posted"))
        _field(lines, "Ages", " to ".join(filter(None, [details.get("minimum_age"), details.get("maximum_age")])))
    _field(lines, "Published", data.get("published"))
    _field(lines, "Updated", data.get("updated"))
    _field(lines, "First seen", local_minute(data.get("first_seen"), timezone))
    _field(lines, "URL", data.get("url"))
    _field(lines, "Sources", ", ".join(data.get("sources") or []))
    _field(lines, "Topics", ", ".join(data.get("topics") or []))
    _field(lines, "Identifiers", ", ".join(f"{k}:{v}" for k, v in data.get("identifiers", {}).items()))
    for contact in details.get("central_contacts") or []:
        _field(lines, "Contact", contact_line(contact))
    _sites(lines, data)
    if data.get("summary"):
        lines += ["", _wrap(data["summary"])]
    _links(lines, data)
    _changes(lines, data, timezone)
    if timezone:
        lines.append(f"(times in {timezone})")
    return "\n".join(lines)


def _sites(lines: list[str], data: dict[str, Any]) -> None:
    watched = data.get("watched_sites") or []
    if watched:
        lines += ["", "Sites in watched places:"]
        for site in watched:
            contact = "; ".join(site_contacts(site))
            lines.append(f"  {site['place']}: {site.get('facility') or site.get('city')} "
                         f"({code_text(site.get('status'))})" + (f" — contact: {contact}" if contact else ""))
    locations = data.get("locations") or []
    if locations:
        lines.append(f"{len(locations)} site(s) in all")


def _links(lines: list[str], data: dict[str, Any]) -> None:
    links = data.get("links") or []
    if links:
        lines += ["", "Linked:"]
        for link in links:
            arrow = "names" if link["direction"] == "out" else "named by"
            lines.append(f"  {arrow} {link['key']} ({link['kind']}): {link['title']}")


def _changes(lines: list[str], data: dict[str, Any], timezone: str | None) -> None:
    changes = data.get("changes") or []
    lines += ["", "Changes:" if changes else "No changes recorded since first seen."]
    for change in changes:
        lines.append(f"  {local_minute(change['seen_at'], timezone)}  {change_line(change)}")


def change_line(change: dict[str, Any]) -> str:
    """`Trial status · 试验状态: Not yet recruiting · 尚未招募 -> Recruiting · 招募中  [recruiting]`"""
    return (f"{field_label(change['field'])}: {code_text(change['old'])} -> "
            f"{code_text(change['new'])}  [{change['significance']}]")


def _wrap(text: str, width: int = 78) -> str:
    import textwrap

    return "\n".join(textwrap.fill(p, width) for p in text.splitlines() if p.strip())


def alert_lines(destinations: list[dict[str, Any]], at: Callable[[Any], str]) -> list[str]:
    """Per alert destination (masked): pending, sent, failed, the last error."""
    return [f"alerts to {destination_text(entry, at)}" for entry in destinations]


def destination_text(entry: dict[str, Any], at: Callable[[Any], str]) -> str:
    """`json://127.0.0.1:8080 #1a2b3c: 0 pending, 3 sent, 0 failed; last sent ...` (times by `at`)."""
    line = (f"{entry['destination']}: {entry['pending']} pending, {entry['sent']} sent, "
            f"{entry['failed']} failed")
    if entry["last_sent_at"]:
        line += f"; last sent {at(entry['last_sent_at'])}"
    if entry["last_error"]:
        line += f"; last error {at(entry['last_error_at'])}: {entry['last_error']}"
    return line


def health_text(data: dict[str, Any], timezone: str | None = None) -> str:
    """Source health as text, times in `timezone` (the watchlist's)."""
    def at(value: Any) -> str:
        return local_minute(value, timezone) if value else "never"

    if not data["sources"]:
        return "No source has been polled yet. Run `hccwatch poll` (or `hccwatch demo`)."
    lines = []
    for source in data["sources"]:
        state = "OK" if not source["failing"] else f"FAILING ({source['failing']} queries)"
        if source.get("warnings"):
            state += f", {source['warnings']} warning(s)"
        lines.append(f"{source['source']}: {state}; last success {at(source['last_success_at'])}")
        for query in source["queries"]:
            if query["last_error"]:
                lines.append(f"  {query['query']}: {query['consecutive_failures']} failure(s) in a row, "
                             f"last at {at(query['last_error_at'])}: {query['last_error']}")
            lines.extend(f"  {query['query']}: warning: {w}" for w in query.get("warnings", ()))
    poll = data["last_poll"]
    if poll:
        outcome = "interrupted" if poll["interrupted"] else ("ok" if poll["ok"] else "with failures")
        lines.append(f"last poll: started {at(poll['started_at'])}, {outcome}")
    kinds = ", ".join(kind_count(k, n) for k, n in sorted(data["findings"].items())) or "none"
    lines.append(f"stored: {kinds}; {data['changes']} changes recorded")
    lines += alert_lines(data.get("alerts") or [], at)
    if timezone:
        lines.append(f"(times in {timezone})")
    return "\n".join(lines)
