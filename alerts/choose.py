"""Which stored changes cannot wait for the digest, and of which kind (`[alerts] kinds`):
- recruiting_nearby: a trial with a site in a watched place starts or resumes recruiting, or
  a site there is added recruiting or starts recruiting;
- may_fit: the eligibility pre-screen newly says the patient may fit;
- stopped / results: a followed trial (one a sent digest carried before the change) is
  suspended, terminated or withdrawn, or posts results;
- retraction: something a sent digest carried is retracted.
A trial first seen by a poll after the first of its query (not the baseline) alerts too when it
recruits in a watched place (recruiting_nearby) or the patient may fit it (may_fit), once.
Changes of one trial or paper make one Draft. A change is considered once (its alert is
recorded with it) and only within HORIZON of being seen: a store that had no alerts before
does not send months of history, and a poll killed before its alerts were recorded still
has them recorded by the next one."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, or_, select

from store.changes import site_status_of
from store.models import Alert, AlertChange, Change, Finding
from store.queries import first_carried
from store.vocab import aware

HORIZON = timedelta(days=7)
SIGNIFICANT = ("recruiting", "watched_site", "may_fit", "stopped", "results", "retraction")
FOLLOWED_ONLY = ("stopped", "results", "retraction")
# Site statuses under which a watched site may still take the patient (unknown included).
OPEN_SITE = (None, "", "RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")


@dataclass
class Draft:
    """One trial's or paper's changes that alert, each with its kind."""

    finding: Finding
    changes: list[tuple[Change, str]] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # kinds for which the trial itself, new, alerts

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys([*self.new, *(kind for _, kind in self.changes)]))


def drafts(session: Session, kinds: Collection[str], now: datetime) -> list[Draft]:
    """The Drafts of every change seen within HORIZON that no alert names yet and whose kind
    is one of `kinds`, one per finding, oldest change first."""
    named = select(AlertChange.change_id)
    rows = session.exec(
        select(Change, Finding).join(Finding, col(Finding.id) == Change.finding_id)
        .where(Change.seen_at >= now - HORIZON, col(Change.significance).in_(SIGNIFICANT),
               col(Change.id).not_in(named))
        .order_by(col(Change.finding_id), col(Change.id))).all()
    carried = first_carried(session, {finding.id for _, finding in rows})
    grouped: dict[int, Draft] = {}
    for change, finding in rows:
        kind = kind_of(change, finding, carried.get(finding.id))
        if kind in kinds:
            grouped.setdefault(finding.id, Draft(finding)).changes.append((change, kind))
    for finding in new_trials(session, now, skip=set(grouped)):
        new = [kind for kind in new_trial_kinds(finding) if kind in kinds]
        if new:
            grouped[finding.id] = Draft(finding, new=new)
    return list(grouped.values())


def new_trials(session: Session, now: datetime, *, skip: set[int]) -> list[Finding]:
    """Trials first seen within HORIZON, after the baseline, that recruit or may fit and have
    no alert yet (`skip`: those already drafted for their changes)."""
    alerted = select(Alert.finding_id)
    rows = session.exec(select(Finding).where(
        Finding.kind == "trial", col(Finding.baseline).is_(False), col(Finding.placeholder).is_(False),
        Finding.first_seen_at >= now - HORIZON, col(Finding.id).not_in(alerted),
        or_(Finding.status == "RECRUITING", Finding.eligibility_verdict == "may_fit"))
        .order_by(col(Finding.id)))
    return [finding for finding in rows if finding.id not in skip]


def new_trial_kinds(finding: Finding) -> list[str]:
    """Why a new trial alerts: it recruits at a site in a watched place (a site whose status
    is not given counts), and/or the patient may fit it while it is open."""
    found = []
    if finding.status == "RECRUITING" and any(
            site.get("status") in ("RECRUITING", None, "") for site in finding.watched_sites or []):
        found.append("recruiting_nearby")
    if finding.eligibility_verdict == "may_fit" and finding.status in OPEN_SITE:
        found.append("may_fit")
    return found


def kind_of(change: Change, finding: Finding, carried_at: datetime | None) -> str | None:
    """The alert kind of one change (None: it does not alert). `carried_at`: when a sent
    digest first carried the finding (None: never)."""
    significance = change.significance
    if significance == "may_fit":
        return "may_fit"
    if significance == "recruiting":
        return "recruiting_nearby" if change.field == "status" and open_watched_site(finding) else None
    if significance == "watched_site":
        return "recruiting_nearby" if site_recruits(change, finding) else None
    if significance in FOLLOWED_ONLY and carried_at is not None \
            and aware(carried_at) <= aware(change.seen_at):
        return significance
    return None


def open_watched_site(finding: Finding) -> bool:
    return any(site.get("status") in OPEN_SITE for site in finding.watched_sites or [])


def site_recruits(change: Change, finding: Finding) -> bool:
    """A site in a watched place added recruiting or starting to recruit (a new site whose
    status is not given counts when the trial itself recruits)."""
    status = site_status_of(change)
    if status is None and change.field == "site":
        return finding.status == "RECRUITING"
    return status == "RECRUITING"
