"""ClinicalTrials.gov API v2: page through /studies for one query (pageToken) and parse each
study's JSON into a Record. Parsing is pure: bytes in, Records out.

Requests name the fields the parser reads (FIELDS, kept here next to it; a test checks that
it covers every field parse_study touches): a whole record averages about 35 KB, mostly
results, outcome measures and long descriptions we never read. Pages are PAGE_SIZE studies,
and a page that is still over the client's size cap is asked for again in halves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sources.http import HttpClient, ParseError, SourceError, TooLarge
from sources.jsonshape import cursor, load_object, text, texts, whole
from sources.records import (
    Contact,
    Location,
    ParsedPage,
    Record,
    find_nct_ids,
    nct_url,
    parse_each,
    since_day,
)

SOURCE = "ctgov"
QUERY_AREAS = ("cond", "intr", "term", "locn")
STATUSES = {
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
    "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
}
# Every field parse_study reads, as dotted paths of the v2 study object (the API accepts these
# as well as piece names; a branch such as `locations` brings everything below it).
FIELDS = (
    "protocolSection.identificationModule.nctId",
    "protocolSection.identificationModule.briefTitle",
    "protocolSection.identificationModule.officialTitle",
    "protocolSection.identificationModule.acronym",
    "protocolSection.statusModule.overallStatus",
    "protocolSection.statusModule.whyStopped",
    "protocolSection.statusModule.startDateStruct",
    "protocolSection.statusModule.primaryCompletionDateStruct",
    "protocolSection.statusModule.completionDateStruct",
    "protocolSection.statusModule.studyFirstPostDateStruct",
    "protocolSection.statusModule.lastUpdatePostDateStruct",
    "protocolSection.statusModule.resultsFirstPostDateStruct",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor",
    "protocolSection.sponsorCollaboratorsModule.collaborators",
    "protocolSection.descriptionModule.briefSummary",
    "protocolSection.conditionsModule.conditions",
    "protocolSection.designModule.studyType",
    "protocolSection.designModule.phases",
    "protocolSection.designModule.designInfo.allocation",
    "protocolSection.designModule.enrollmentInfo",
    "protocolSection.armsInterventionsModule.interventions",
    "protocolSection.eligibilityModule.eligibilityCriteria",
    "protocolSection.eligibilityModule.minimumAge",
    "protocolSection.eligibilityModule.maximumAge",
    "protocolSection.eligibilityModule.sex",
    "protocolSection.contactsLocationsModule.centralContacts",
    "protocolSection.contactsLocationsModule.locations",
    "hasResults",
)
# With FIELDS a study is a few KB (a trial with hundreds of sites: a few hundred KB), so a page
# of 200 stays far under the 20 MiB cap; 5,000 studies still take only 25 requests.
PAGE_SIZE = 200
PHASE_LABELS = {"EARLY_PHASE1": "Early Phase 1", "PHASE1": "Phase 1", "PHASE2": "Phase 2",
                "PHASE3": "Phase 3", "PHASE4": "Phase 4", "NA": "N/A"}


def build_params(query: Mapping[str, str], *, since: str | None, page_size: int = PAGE_SIZE,
                 statuses: list[str] | None = None) -> dict[str, str]:
    """Request parameters for one watchlist query; `since` (YYYY-MM-DD) makes it incremental."""
    params = {f"query.{area}": value for area, value in query.items() if area in QUERY_AREAS}
    if not params:
        raise ValueError(f"a ctgov query needs one of {', '.join(QUERY_AREAS)}")
    params.update({"pageSize": str(page_size), "format": "json", "countTotal": "true",
                   "fields": ",".join(FIELDS)})
    if since:
        params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    if statuses:
        params["filter.overallStatus"] = ",".join(statuses)
    return params


def fetch_since(client: HttpClient, base_url: str, query: Mapping[str, str],
                cursor: str | None, *, lookback_days: int = 0) -> Iterator[ParsedPage]:
    """Every page of the query's studies last updated on or after `lookback_days` before the
    cursor's day (see records.since_day; no cursor: all of them)."""
    since = since_day(cursor, lookback_days)
    return fetch_pages(client, base_url, build_params(query, since=since and since.isoformat()))


def fetch_pages(client: HttpClient, base_url: str, params: Mapping[str, str]) -> Iterator[ParsedPage]:
    """Yield every page, parsed once, following nextPageToken to the end. A page over the
    size cap is asked for again with half the page size (the API lets pageSize change between
    pages), and the smaller size is kept for the rest of the query."""
    token: str | None = None
    seen: set[str] = set()
    size = int(params.get("pageSize") or PAGE_SIZE)
    while True:
        page_params = dict(params)
        if token:
            page_params["pageToken"] = token
            page_params.pop("countTotal", None)
        try:
            body = client.get(f"{base_url.rstrip('/')}/studies",
                              params={**page_params, "pageSize": str(size)}).content
        except TooLarge as error:
            size = _smaller(size, error)
            continue
        page = parse_page(body)
        yield page
        token = page.next
        if not token:
            return
        if token in seen:
            raise ParseError(f"ClinicalTrials.gov repeated page token {token!r}; stopping to avoid a loop")
        seen.add(token)


def _smaller(size: int, error: TooLarge) -> int:
    """Half the page size after a page came back too large; one study too large is an error."""
    if size <= 1:
        raise SourceError(f"ClinicalTrials.gov sent a single study over the size limit ({error})")
    return size // 2


def _load(body: bytes) -> dict[str, Any]:
    data = load_object(body, "ClinicalTrials.gov")
    if "FullStudiesResponse" in data or "StudyFieldsResponse" in data:
        raise ParseError("this is a response of the retired classic ClinicalTrials.gov API; "
                         "point HCCWATCH_CTGOV_URL at the v2 API (https://clinicaltrials.gov/api/v2)")
    return data


def parse_page(body: bytes) -> ParsedPage:
    """Parse a /studies page (or a single /studies/{id} object) into Records.

    A study without an NCT id is skipped and reported, never fatal for the page."""
    data = _load(body)
    studies = data.get("studies", [data])
    if not isinstance(studies, list):
        raise ParseError("ClinicalTrials.gov page has a 'studies' value that is not a list")
    records, skipped = parse_each(studies, parse_study, "study")
    return ParsedPage(records, cursor(data, "nextPageToken", "ClinicalTrials.gov"),
                      whole(data, "totalCount"), skipped)


def parse_study(study: Mapping[str, Any]) -> Record:
    """One v2 study object -> Record (partial dates such as '2023-01' kept as given)."""
    protocol = _dict(study, "protocolSection")
    ident = _dict(protocol, "identificationModule")
    nct_id = ident.get("nctId")
    if not isinstance(nct_id, str) or not nct_id.upper().startswith("NCT"):
        raise ValueError("no protocolSection.identificationModule.nctId")
    nct_id = nct_id.upper()
    status_mod = _dict(protocol, "statusModule")
    design = _dict(protocol, "designModule")
    description = _dict(protocol, "descriptionModule")
    contacts = _dict(protocol, "contactsLocationsModule")
    status = text(status_mod, "overallStatus")
    phases = texts(design, "phases")
    summary = text(description, "briefSummary") or ""
    return Record(
        source=SOURCE,
        kind="trial",
        ids={"nct": nct_id},
        title=text(ident, "briefTitle") or text(ident, "officialTitle") or nct_id,
        url=nct_url(nct_id),
        summary=summary,
        published=_date(status_mod, "studyFirstPostDateStruct"),
        updated=_date(status_mod, "lastUpdatePostDateStruct"),
        evidence=trial_evidence(phases, design),
        status=status,
        phases=phases,
        locations=[_location(loc) for loc in _list(contacts, "locations")],
        mentions=[n for n in find_nct_ids(summary) if n != nct_id],
        details=_details(study, protocol, ident, status_mod, design, contacts),
        lang="en",
    )


def _details(study: Mapping[str, Any], protocol: Mapping[str, Any], ident: Mapping[str, Any],
             status_mod: Mapping[str, Any], design: Mapping[str, Any],
             contacts: Mapping[str, Any]) -> dict[str, Any]:
    sponsor = _dict(protocol, "sponsorCollaboratorsModule")
    eligibility = _dict(protocol, "eligibilityModule")
    enrollment = _dict(design, "enrollmentInfo")
    interventions = _list(_dict(protocol, "armsInterventionsModule"), "interventions")
    return {
        "official_title": text(ident, "officialTitle"),
        "acronym": text(ident, "acronym"),
        "status_known": text(status_mod, "overallStatus") in STATUSES,
        "why_stopped": text(status_mod, "whyStopped"),
        "conditions": texts(_dict(protocol, "conditionsModule"), "conditions"),
        "interventions": [_intervention(i) for i in interventions if isinstance(i, dict)],
        "sponsor": text(_dict(sponsor, "leadSponsor"), "name"),
        "collaborators": [name for c in _list(sponsor, "collaborators") if (name := text(c, "name"))],
        "study_type": text(design, "studyType"),
        "enrollment": whole(enrollment, "count"),
        "enrollment_type": text(enrollment, "type"),
        "start_date": _date(status_mod, "startDateStruct"),
        "primary_completion_date": _date(status_mod, "primaryCompletionDateStruct"),
        "completion_date": _date(status_mod, "completionDateStruct"),
        "first_posted": _date(status_mod, "studyFirstPostDateStruct"),
        "last_update_posted": _date(status_mod, "lastUpdatePostDateStruct"),
        "results_first_posted": _date(status_mod, "resultsFirstPostDateStruct"),
        "has_results": bool(study.get("hasResults")),
        "central_contacts": [_contact_dict(c) for c in _list(contacts, "centralContacts")],
        "eligibility_criteria": text(eligibility, "eligibilityCriteria"),
        "minimum_age": text(eligibility, "minimumAge"),
        "maximum_age": text(eligibility, "maximumAge"),
        "sex": text(eligibility, "sex"),
    }


def trial_evidence(phases: list[str], design: Mapping[str, Any]) -> str:
    """A plain label such as 'Phase 3 RCT', 'Phase 1/2 trial' or 'observational study'."""
    if design.get("studyType") == "OBSERVATIONAL":
        return "observational study"
    numbers = [PHASE_LABELS[p].removeprefix("Phase ") for p in phases
               if p in PHASE_LABELS and p.startswith("PHASE")]
    randomized = _dict(design, "designInfo").get("allocation") == "RANDOMIZED"
    kind = "RCT" if randomized else "trial"
    return f"Phase {'/'.join(numbers)} {kind}" if numbers else ("RCT" if randomized else "trial")


def _intervention(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": text(item, "type"), "name": text(item, "name"),
            "other_names": texts(item, "otherNames")}


def _location(loc: Mapping[str, Any]) -> Location:
    if not isinstance(loc, dict):
        raise ValueError("a location is not an object")
    return Location(
        facility=text(loc, "facility"), city=text(loc, "city"), state=text(loc, "state"),
        country=text(loc, "country"), status=text(loc, "status"),
        contacts=[Contact(**_contact_dict(c)) for c in _list(loc, "contacts")],
    )


def _contact_dict(contact: Mapping[str, Any]) -> dict[str, str | None]:
    return {key: text(contact, key) for key in ("name", "role", "phone", "email")}


def _date(module: Mapping[str, Any], key: str) -> str | None:
    value = _dict(module, key).get("date")
    return value if isinstance(value, str) and value else None


def _list(parent: Mapping[str, Any], key: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, list) else []


def _dict(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, Mapping) else {}
