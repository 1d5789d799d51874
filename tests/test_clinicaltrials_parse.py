"""ClinicalTrials.gov v2 parsing on real recorded responses: the fields a family would read."""

from __future__ import annotations

import json

import pytest
from conftest import fixture_bytes

from replay.server import fields_only
from sources.clinicaltrials import FIELDS, build_params, parse_page, parse_study
from sources.http import ParseError


def test_search_page_yields_every_study_with_next_token():
    page = parse_page(fixture_bytes("ctgov/biomcp_search_keytruda_limit3_20260811.json"))
    assert [r.key for r in page.records] == ["NCT05431270", "NCT03590054", "NCT04795661"]
    assert page.next == "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4YnzmVtA"  # as recorded
    assert page.total == 2924
    assert not page.skipped


def test_single_study_fields_a_user_sees():
    record = parse_page(fixture_bytes("ctgov/biomcp_get_nct02576665_20260811.json")).records[0]
    assert record.key == "NCT02576665"
    assert record.title.startswith("A Study of Toca 511, a Retroviral Replicating Vector")
    assert record.status == "TERMINATED"
    assert record.phases == ["PHASE1"]
    assert record.evidence == "Phase 1 trial"
    assert record.url == "https://clinicaltrials.gov/study/NCT02576665"
    assert record.details["sponsor"] == "Tocagen Inc."
    assert record.details["enrollment"] == 21
    assert record.details["start_date"] == "2016-07"  # partial date kept as given
    assert record.details["completion_date"] == "2019-12-20"
    assert record.details["minimum_age"] == "18 Years"
    assert record.details["maximum_age"] == "75 Years"
    assert "Colorectal Cancer" in record.details["conditions"]
    assert record.details["interventions"][0] == {
        "type": None, "name": "Toca 511",
        "other_names": ["vocimagene amiretrorepvec", "RRV", "retroviral replicating viral"]}
    assert record.details["eligibility_criteria"].startswith("Inclusion Criteria:")
    first = record.locations[0]
    assert (first.facility, first.city, first.country) == (
        "Sarah Cannon Research Institute", "Denver", "United States")


def test_full_aact_record_with_results_and_randomized_design():
    record = parse_page(fixture_bytes("ctgov/aact_NCT02210780.json")).records[0]
    assert record.status == "COMPLETED"
    assert record.evidence == "Phase 2 RCT"
    assert record.details["results_first_posted"] == "2020-05-07"
    assert record.details["has_results"] is True
    assert record.details["collaborators"] == ["Sanofi"]
    assert record.details["official_title"].startswith("A Randomized, Double-Blind")
    assert (record.published, record.updated) == ("2014-08-07", "2020-05-07")  # first/last posted


def test_multi_phase_study_is_labelled_phase_1_2():
    page = parse_page(fixture_bytes("ctgov/biomcp_search_phelan_limit5_20260811.json"))
    by_key = {r.key: r for r in page.records}
    assert by_key["NCT05105685"].phases == ["PHASE1", "PHASE2"]
    assert by_key["NCT05105685"].evidence.startswith("Phase 1/2")
    assert by_key["NCT01525901"].details["start_date"] == "2012-02"


def test_site_and_central_contacts_are_kept():
    study = {"protocolSection": {
        "identificationModule": {"nctId": "NCT09999999", "briefTitle": "Sample"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "contactsLocationsModule": {
            "centralContacts": [{"name": "Jane Roe", "role": "CONTACT", "phone": "206-555-0100",
                                 "email": "jroe@example.org"}],
            "locations": [{"facility": "Zhongshan Hospital, Fudan University", "city": "Shanghai",
                           "state": "Shanghai Municipality", "country": "China", "status": "RECRUITING",
                           "contacts": [{"name": "Li Wei", "phone": "+86 21 5555 0100"}]}]}}}
    record = parse_study(study)
    assert record.details["central_contacts"][0]["email"] == "jroe@example.org"
    site = record.locations[0]
    assert site.status == "RECRUITING"
    assert site.contacts[0].name == "Li Wei" and site.contacts[0].phone == "+86 21 5555 0100"


def test_study_missing_expected_fields_still_parses():
    record = parse_study({"protocolSection": {"identificationModule": {"nctId": "nct01234567"}}})
    assert record.key == "NCT01234567"
    assert record.title == "NCT01234567"
    assert record.status is None and record.phases == [] and record.locations == []


def test_unknown_status_value_is_kept_and_flagged():
    record = parse_study({"protocolSection": {
        "identificationModule": {"nctId": "NCT01234567", "briefTitle": "X"},
        "statusModule": {"overallStatus": "PAUSED_FOR_REVIEW"}}})
    assert record.status == "PAUSED_FOR_REVIEW"
    assert record.details["status_known"] is False


def test_study_without_nct_id_is_skipped_not_fatal():
    body = json.dumps({"studies": [{"protocolSection": {}},
                                   {"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}}}]})
    page = parse_page(body.encode())
    assert [r.key for r in page.records] == ["NCT00000001"]
    assert page.skipped == ["study #1 skipped: no protocolSection.identificationModule.nctId"]


@pytest.mark.parametrize("body", [b'{"studies": [', b"<html>500</html>", b"\xff\xfe\x00", b"[]"])
def test_malformed_json_is_a_clear_parse_error(body):
    with pytest.raises(ParseError, match="ClinicalTrials.gov sent"):
        parse_page(body)


def test_retired_classic_api_response_is_recognised():
    with pytest.raises(ParseError, match="retired classic"):
        parse_page(fixture_bytes("ctgov/legacy_classic_aact_NCT04780763.json"))


def test_incremental_params_filter_on_last_update_date():
    params = build_params({"cond": "HCC", "intr": "QL1706"}, since="2026-11-16")
    assert params["query.cond"] == "HCC" and params["query.intr"] == "QL1706"
    assert params["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-11-16,MAX]"
    assert "filter.advanced" not in build_params({"term": "x"}, since=None)


class _Tracked(dict):
    """A study object that notes the dotted path of every key the parser asks for."""

    def __init__(self, data: dict, path: str, seen: set[str]):
        super().__init__(data)
        self._path, self._seen = path, seen

    def _wrap(self, key: str, value: object) -> object:
        path = f"{self._path}.{key}" if self._path else key
        self._seen.add(path)
        if isinstance(value, dict):
            return _Tracked(value, path, self._seen)
        if isinstance(value, list):
            return [_Tracked(v, path, self._seen) if isinstance(v, dict) else v for v in value]
        return value

    def get(self, key, default=None):
        return self._wrap(key, super().get(key, default))

    def __getitem__(self, key):
        return self._wrap(key, super().__getitem__(key))


FULL_RECORDS = ("ctgov/aact_NCT00763412.json", "ctgov/aact_NCT02210780.json",
                "ctgov/aact_NCT03630471.json", "ctgov/aact_NCT04207047.json")


@pytest.mark.parametrize("fixture", FULL_RECORDS)
def test_requested_fields_cover_every_field_the_parser_reads(fixture):
    """A field parse_study reads but the request does not name would arrive empty live."""
    seen: set[str] = set()
    parse_study(_Tracked(json.loads(fixture_bytes(fixture)), "", seen))
    leaves = {p for p in seen if not any(q.startswith(p + ".") for q in seen)}
    uncovered = [p for p in sorted(leaves)
                 if not any(p == f or p.startswith(f + ".") for f in FIELDS)]
    assert not uncovered, f"add to clinicaltrials.FIELDS: {uncovered}"


@pytest.mark.parametrize("fixture", FULL_RECORDS)
def test_a_study_cut_to_the_requested_fields_parses_the_same(fixture):
    study = json.loads(fixture_bytes(fixture))
    assert parse_study(fields_only(study, FIELDS)) == parse_study(study)


def test_the_requested_fields_are_a_fraction_of_full_records():
    studies = [json.loads(fixture_bytes(f)) for f in FULL_RECORDS]
    cut = sum(len(json.dumps(fields_only(s, FIELDS))) for s in studies)
    assert cut < sum(len(json.dumps(s)) for s in studies) / 3


def test_requests_name_the_fields_and_a_page_size_well_under_the_cap():
    params = build_params({"cond": "HCC"}, since=None)
    assert params["fields"].split(",") == list(FIELDS)
    assert int(params["pageSize"]) <= 200


RECORDED_WITH_FIELDS = {  # the fields= each recording was requested with (PROVENANCE.md)
    "ctgov/biomcp_get_nct02576665_20260811.json":
        "BriefSummary,BriefTitle,CentralContactEMail,CentralContactName,CentralContactPhone,"
        "CentralContactRole,CompletionDate,Condition,EligibilityCriteria,EnrollmentCount,"
        "InterventionName,InterventionOtherName,LargeDocumentModule,LeadSponsorName,LocationCity,"
        "LocationContactEMail,LocationContactName,LocationContactPhone,LocationContactRole,"
        "LocationCountry,LocationFacility,LocationGeoPoint,LocationState,LocationStatus,LocationZip,"
        "MaximumAge,MinimumAge,NCTId,OverallStatus,Phase,Sex,StartDate,StudyType",
    "ctgov/biomcp_search_keytruda_limit3_20260811.json":
        "NCTId,BriefTitle,OverallStatus,Phase,StudyType,Condition,InterventionName,LeadSponsorName,"
        "EnrollmentCount,BriefSummary,StartDate,CompletionDate,MinimumAge,MaximumAge",
}


@pytest.mark.parametrize("fixture", RECORDED_WITH_FIELDS)
def test_replay_cuts_by_piece_names_as_the_real_api_did(fixture):
    """Cutting a real answer to the piece names it was asked with keeps every field it has."""
    data = json.loads(fixture_bytes(fixture))
    fields = RECORDED_WITH_FIELDS[fixture].split(",")
    for study in data.get("studies", [data]):
        assert fields_only(study, fields) == study


def test_replay_cuts_full_records_by_dotted_paths_and_names():
    study = json.loads(fixture_bytes("ctgov/aact_NCT02210780.json"))
    cut = fields_only(study, ["protocolSection.identificationModule.nctId", "OverallStatus",
                              "LocationCity", "hasResults"])
    assert cut == {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT02210780"},
            "statusModule": {"overallStatus": "COMPLETED"},
            "contactsLocationsModule": {"locations": [
                {"city": loc["city"]} for loc in
                study["protocolSection"]["contactsLocationsModule"]["locations"]]}},
        "hasResults": True}
