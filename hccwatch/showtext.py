"""Plain-text rendering of one finding for `hccwatch show`."""

from __future__ import annotations

from typing import Any

STATUS_WORDS = {"RECRUITING": "Recruiting", "NOT_YET_RECRUITING": "Not yet recruiting",
                "ACTIVE_NOT_RECRUITING": "Active, not recruiting", "COMPLETED": "Completed",
                "TERMINATED": "Terminated", "WITHDRAWN": "Withdrawn", "SUSPENDED": "Suspended",
                "ENROLLING_BY_INVITATION": "Enrolling by invitation", "UNKNOWN": "Unknown status"}


def status_word(status: str | None) -> str:
    if not status:
        return "—"
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def _field(lines: list[str], label: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        lines.append(f"{label:<18} {value}")


def finding_text(data: dict[str, Any]) -> str:
    details = data.get("details") or {}
    lines = [data["title"], "=" * min(len(data["title"]), 78)]
    _field(lines, "Key", data["key"])
    _field(lines, "Kind", data["kind"] + (" (not fetched yet)" if data.get("placeholder") else ""))
    _field(lines, "Evidence", data.get("evidence"))
    if data["kind"] == "trial":
        _field(lines, "Status", status_word(data.get("status")))
        _field(lines, "Phases", ", ".join(data.get("phases") or []))
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
    _field(lines, "First seen", data.get("first_seen"))
    _field(lines, "URL", data.get("url"))
    _field(lines, "Sources", ", ".join(data.get("sources") or []))
    _field(lines, "Topics", ", ".join(data.get("topics") or []))
    _field(lines, "Identifiers", ", ".join(f"{k}:{v}" for k, v in data.get("identifiers", {}).items()))
    for contact in details.get("central_contacts") or []:
        _field(lines, "Contact", ", ".join(filter(None, [contact.get("name"), contact.get("phone"),
                                                          contact.get("email")])))
    _sites(lines, data)
    if data.get("summary"):
        lines += ["", _wrap(data["summary"])]
    _links(lines, data)
    _changes(lines, data)
    return "\n".join(lines)


def _sites(lines: list[str], data: dict[str, Any]) -> None:
    watched = data.get("watched_sites") or []
    if watched:
        lines += ["", "Sites in watched places:"]
        for site in watched:
            contact = "; ".join(", ".join(filter(None, [c.get("name"), c.get("phone"), c.get("email")]))
                                for c in site.get("contacts") or [])
            lines.append(f"  {site['place']}: {site.get('facility') or site.get('city')} "
                         f"({status_word(site.get('status'))})" + (f" — contact: {contact}" if contact else ""))
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


def _changes(lines: list[str], data: dict[str, Any]) -> None:
    changes = data.get("changes") or []
    lines += ["", "Changes:" if changes else "No changes recorded since first seen."]
    for change in changes:
        lines.append(f"  {change['seen_at']}  {change['field']}: {change['old'] or '—'} -> "
                     f"{change['new'] or '—'}  [{change['significance']}]")


def _wrap(text: str, width: int = 78) -> str:
    import textwrap

    return "\n".join(textwrap.fill(p, width) for p in text.splitlines() if p.strip())
