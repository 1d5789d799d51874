"""What changed between a stored finding and a newer record of it, as Change events with their
significance (a trial starts recruiting, stops, opens a site in a watched place, a paper is
retracted ...): what the digest reports."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sources.records import Location, Record
from store.models import Change, Finding

STOPPED = {"TERMINATED", "WITHDRAWN", "SUSPENDED"}
# Notices PubMed adds to a stored paper (CommentsCorrections) -> (label, significance); a
# retraction is already the "retracted" evidence.
NOTICES = {"ErratumIn": ("Erratum in", "correction"),
           "ExpressionOfConcernIn": ("Expression of concern in", "concern"),
           "UpdateIn": ("Update in", "correction"),
           "RetractedandRepublishedIn": ("Retracted and republished in", "retraction")}


def diff(finding: Finding, record: Record, *, seen_at: datetime, sources: set[str]) -> list[Change]:
    """The Change events between what is stored and a newer record of the same thing
    (`sources`: those already reporting it; only one of them can rename it)."""
    def change(name: str, old: Any, new: Any, significance: str) -> Change:
        return Change(finding_id=finding.id, field=name, old=_text(old), new=_text(new),
                      seen_at=seen_at, significance=significance, source=record.source)

    changes: list[Change] = []
    if record.status and finding.status and record.status != finding.status:
        changes.append(change("status", finding.status, record.status, status_significance(record.status)))
    if record.kind == "trial" and record.phases and record.phases != finding.phases:
        changes.append(change("phases", ", ".join(finding.phases), ", ".join(record.phases), "phase"))
    old_results = (finding.details or {}).get("results_first_posted")
    new_results = record.details.get("results_first_posted")
    if new_results and not old_results:
        changes.append(change("results_first_posted", None, new_results, "results"))
    if record.evidence == "retracted" and finding.evidence != "retracted":
        changes.append(change("evidence", finding.evidence, "retracted", "retraction"))
    changes.extend(notice_changes(finding, record, change))
    if record.title and record.title != finding.title and record.source in sources:
        changes.append(change("title", finding.title, record.title, "minor"))
    if record.kind == "trial":
        changes.extend(site_changes(finding, record, change))
    return changes


def notice_changes(finding: Finding, record: Record, change: Any) -> list[Change]:
    """One Change per erratum, expression of concern or update notice the record names and the
    stored finding did not."""
    old = (finding.details or {}).get("corrections") or {}
    new = record.details.get("corrections") or {}
    return [change("correction", None, f"{label}: {notice}", significance)
            for kind, (label, significance) in NOTICES.items() if isinstance(new.get(kind), list)
            for notice in new[kind] if notice not in (old.get(kind) or [])]


def status_significance(status: str) -> str:
    if status == "RECRUITING":
        return "recruiting"
    if status in STOPPED:
        return "stopped"
    if status == "COMPLETED":
        return "completed"
    return "status"


def site_changes(finding: Finding, record: Record, change: Any) -> list[Change]:
    """Sites added, removed or changing recruitment status; watched places named one by one."""
    old = {_site_key(loc): loc for loc in finding.locations or []}
    new = {loc.site_key(): location_dict(loc) for loc in record.locations}
    watched = {site.get("site_key") for site in record.watched_sites}
    changes, others_added = [], []
    for key, loc in new.items():
        label = _site_label(loc)
        if key not in old:
            if key in watched:
                changes.append(change("site", None, f"{label} ({loc.get('status') or 'status not given'})",
                                      "watched_site"))
            else:
                others_added.append(label)
        elif loc.get("status") != old[key].get("status"):
            significance = "watched_site" if key in watched else "site"
            changes.append(change("site_status", f"{label}: {old[key].get('status')}",
                                  f"{label}: {loc.get('status')}", significance))
    if others_added:
        shown = "; ".join(others_added[:5]) + (" …" if len(others_added) > 5 else "")
        changes.append(change("sites", _sites(len(old)), f"{_sites(len(new))} (new: {shown})", "site"))
    removed = [key for key in old if key not in new]
    if removed:
        changes.append(change("sites_removed", f"{_sites(len(removed))} no longer listed",
                              "; ".join(_site_label(old[k]) for k in removed[:5]), "minor"))
    return changes


def _sites(count: int) -> str:
    return f"{count} site" if count == 1 else f"{count} sites"


def site_status_of(change: Change) -> str | None:
    """The status a site change (as site_changes writes it: a new site `label (STATUS)`, a
    site's status `label: STATUS`) gives the site; None when it is not given."""
    text = change.new or ""
    if change.field == "site":
        match = re.search(r"\(([A-Z_]+)\)$", text)
    elif change.field == "site_status":
        match = re.search(r": ([A-Z_]+)$", text)
    else:
        match = None
    return match.group(1) if match else None


def location_dict(location: Location) -> dict[str, Any]:
    data = {k: getattr(location, k) for k in ("facility", "city", "state", "country", "status")}
    data["contacts"] = [
        {k: getattr(c, k) for k in ("name", "role", "phone", "email")} for c in location.contacts
    ]
    return data


def _site_key(loc: dict[str, Any]) -> str:
    return " | ".join(loc.get(p) or "" for p in ("facility", "city", "country"))


def _site_label(loc: dict[str, Any]) -> str:
    return ", ".join(loc.get(p) for p in ("facility", "city", "country") if loc.get(p))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
