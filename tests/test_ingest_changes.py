"""What the store records as changed when a newer record of a stored trial or paper arrives,
read back from a real SQLite file: the Change rows (field, old, new, significance) are the
lines the family's digest shows, so their wording and significance are checked as stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from test_ingest import DENVER, SEATTLE, T0, _study, store

from sources.clinicaltrials import parse_study
from sources.records import Contact, Location, Record
from store.changes import site_status_of
from store.db import session_scope
from store.models import Change, Finding

LATER = T0 + timedelta(days=7)


def changes(engine) -> list[tuple[str, str | None, str | None, str]]:
    with session_scope(engine, write=False) as session:
        return [(c.field, c.old, c.new, c.significance) for c in session.exec(select(Change))]


def stored(engine, key: str) -> Finding:
    with session_scope(engine, write=False) as session:
        return session.exec(select(Finding).where(Finding.key == key)).one()


def trial(**kwargs) -> Record:
    return parse_study(_study(**kwargs))


@pytest.mark.parametrize(("status", "significance"), [
    ("RECRUITING", "recruiting"), ("TERMINATED", "stopped"), ("WITHDRAWN", "stopped"),
    ("SUSPENDED", "stopped"), ("COMPLETED", "completed"), ("ACTIVE_NOT_RECRUITING", "status"),
])
def test_each_status_change_carries_its_significance(engine, status, significance):
    store(engine, [trial(status="NOT_YET_RECRUITING")])
    store(engine, [trial(status=status)], at=LATER)
    assert changes(engine) == [("status", "NOT_YET_RECRUITING", status, significance)]


def test_a_record_without_a_status_changes_nothing_and_keeps_the_stored_one(engine):
    store(engine, [trial(status="RECRUITING")])
    store(engine, [trial(status="")], at=LATER)
    assert changes(engine) == []
    assert stored(engine, "NCT09990001").status == "RECRUITING"


def test_results_are_announced_once(engine):
    store(engine, [trial()])
    store(engine, [trial(results="2026-11-20")], at=LATER)
    store(engine, [trial(results="2026-11-21")], at=LATER + timedelta(days=7))
    assert changes(engine) == [("results_first_posted", None, "2026-11-20", "results")]


def test_sites_opening_and_closing_elsewhere_are_counted_and_named(engine):
    """Sites outside the watched places are one line each way; more than five are cut short."""
    others = [{"facility": f"Site {n}", "city": f"City {n}", "country": "France",
               "status": "RECRUITING"} for n in range(6)]
    store(engine, [trial(sites=[DENVER, SEATTLE])])
    store(engine, [trial(sites=[SEATTLE, *others])], at=LATER)
    shown = "; ".join(f"Site {n}, City {n}, France" for n in range(5))
    assert changes(engine) == [
        ("sites", "2 sites", f"7 sites (new: {shown} …)", "site"),
        ("sites_removed", "1 site no longer listed", "Denver Site, Denver, United States", "minor"),
    ]


def test_five_new_sites_are_all_named_without_an_ellipsis(engine):
    others = [{"facility": f"Site {n}", "country": "France"} for n in range(5)]
    store(engine, [trial(sites=[])])
    store(engine, [trial(sites=others)], at=LATER)
    shown = "; ".join(f"Site {n}, France" for n in range(5))
    assert changes(engine) == [("sites", "0 sites", f"5 sites (new: {shown})", "site")]


def test_a_site_changing_status_outside_watched_places_is_an_ordinary_site_change(engine):
    store(engine, [trial(sites=[DENVER])])
    store(engine, [trial(sites=[dict(DENVER, status="COMPLETED")])], at=LATER)
    label = "Denver Site, Denver, United States"
    assert changes(engine) == [("site_status", f"{label}: RECRUITING", f"{label}: COMPLETED", "site")]


def test_a_new_watched_site_without_a_status_says_so(engine):
    store(engine, [trial(sites=[DENVER])])
    newer = trial(sites=[DENVER, {k: v for k, v in SEATTLE.items() if k != "status"}])
    newer.watched_sites = [{"site_key": newer.locations[1].site_key(), "place": "Seattle"}]
    store(engine, [newer], at=LATER)
    assert changes(engine) == [("site", None, "Fred Hutchinson Cancer Center, Seattle, United States "
                                               "(status not given)", "watched_site")]


def test_site_contacts_are_stored_with_the_trial(engine):
    record = trial(sites=[SEATTLE])
    record.locations[0] = Location(facility="Fred Hutchinson Cancer Center", city="Seattle",
                                   country="United States", status="RECRUITING",
                                   contacts=[Contact(name="Dr. Ada Lee", role="CONTACT",
                                                     phone="+1 206 555 0100", email="ada@example.org")])
    store(engine, [record])
    [site] = stored(engine, "NCT09990001").locations
    assert site == {"facility": "Fred Hutchinson Cancer Center", "city": "Seattle", "state": None,
                    "country": "United States", "status": "RECRUITING",
                    "contacts": [{"name": "Dr. Ada Lee", "role": "CONTACT", "phone": "+1 206 555 0100",
                                  "email": "ada@example.org"}]}


def paper(source: str = "pubmed", **fields) -> Record:
    fields.setdefault("title", "TACE plus lenvatinib")
    return Record(source=source, kind="article", ids={"pmid": "38000001"}, **fields)


def test_a_retraction_is_announced_once(engine):
    store(engine, [paper(evidence="Phase 3 RCT")])
    store(engine, [paper(evidence="retracted")], at=LATER)
    store(engine, [paper(evidence="retracted", summary="Now with an abstract")], at=LATER)
    assert changes(engine) == [("evidence", "Phase 3 RCT", "retracted", "retraction")]


@pytest.mark.parametrize(("kind", "label", "significance"), [
    ("ErratumIn", "Erratum in", "correction"),
    ("ExpressionOfConcernIn", "Expression of concern in", "concern"),
    ("UpdateIn", "Update in", "correction"),
    ("RetractedandRepublishedIn", "Retracted and republished in", "retraction"),
])
def test_each_notice_on_a_paper_is_announced_once(engine, kind, label, significance):
    store(engine, [paper(details={"corrections": {kind: ["Lancet 2026;1:1"]}})])
    store(engine, [paper(details={"corrections": {kind: ["Lancet 2026;1:1", "Lancet 2026;2:2"],
                                                  "CommentIn": ["not a notice"]}})], at=LATER)
    assert changes(engine) == [("correction", None, f"{label}: Lancet 2026;2:2", significance)]


def test_a_renaming_counts_only_from_a_source_that_already_reported_the_paper(engine):
    store(engine, [paper(title="First title")])
    store(engine, [paper(title="Second title")], at=LATER)
    assert changes(engine) == [("title", "First title", "Second title", "minor")]
    assert stored(engine, "pmid:38000001").title == "Second title"


def test_a_lower_ranked_source_only_fills_gaps_but_may_report_a_retraction(engine):
    store(engine, [paper(title="PubMed title", evidence="review")])
    store(engine, [paper(source="europepmc", title="Europe PMC title", evidence="retracted",
                         summary="Abstract only Europe PMC has", url="https://europepmc.org/x")],
          at=LATER)
    assert changes(engine) == [("evidence", "review", "retracted", "retraction")]
    kept = stored(engine, "pmid:38000001")
    assert (kept.title, kept.evidence) == ("PubMed title", "retracted")
    assert (kept.summary, kept.url) == ("Abstract only Europe PMC has", "https://europepmc.org/x")


def test_the_status_a_site_change_gives_is_read_back_from_what_was_written(engine):
    """site_status_of (alerts read it) reads the status out of the lines site_changes writes."""
    store(engine, [trial(sites=[dict(DENVER, status="NOT_YET_RECRUITING")])])
    newer = trial(status="ACTIVE_NOT_RECRUITING", sites=[
        DENVER, SEATTLE, {k: v for k, v in SEATTLE.items() if k != "status"} | {"city": "Tacoma"}])
    newer.watched_sites = [{"site_key": loc.site_key(), "place": "Seattle"} for loc in newer.locations[1:]]
    store(engine, [newer], at=LATER)
    with session_scope(engine, write=False) as session:
        read = {(c.field, c.new): site_status_of(c) for c in session.exec(select(Change))}
    assert read == {
        ("status", "ACTIVE_NOT_RECRUITING"): None,
        ("site_status", "Denver Site, Denver, United States: RECRUITING"): "RECRUITING",
        ("site", "Fred Hutchinson Cancer Center, Seattle, United States (RECRUITING)"): "RECRUITING",
        ("site", "Fred Hutchinson Cancer Center, Tacoma, United States (status not given)"): None,
    }


def test_a_new_phase_is_a_change_from_the_old_phases(engine):
    store(engine, [trial(phases=("PHASE1", "PHASE2"))])
    store(engine, [trial(phases=("PHASE2", "PHASE3"))], at=LATER)
    assert changes(engine) == [("phases", "PHASE1, PHASE2", "PHASE2, PHASE3", "phase")]


def test_each_change_names_the_source_that_reported_it(engine):
    store(engine, [trial(status="NOT_YET_RECRUITING")])
    store(engine, [trial(status="RECRUITING")], at=LATER)
    store(engine, [paper(evidence="review")])
    store(engine, [paper(source="europepmc", evidence="retracted")], at=LATER)
    with session_scope(engine, write=False) as session:
        sources = {(c.field, c.source) for c in session.exec(select(Change))}
    assert sources == {("status", "ctgov"), ("evidence", "europepmc")}


def test_many_closed_sites_are_counted_and_the_first_five_named(engine):
    sites = [{"facility": f"Site {n}", "city": f"City {n}", "country": "France"} for n in range(7)]
    store(engine, [trial(sites=sites)])
    store(engine, [trial(sites=sites[6:])], at=LATER)
    named = "; ".join(f"Site {n}, City {n}, France" for n in range(5))
    assert changes(engine) == [("sites_removed", "6 sites no longer listed", named, "minor")]


def test_a_site_without_a_city_is_the_same_site_next_time(engine):
    hospital = {"facility": "Zhongshan Hospital", "country": "China", "status": "RECRUITING"}
    store(engine, [trial(sites=[hospital])])
    store(engine, [trial(sites=[hospital], results="2026-11-20")], at=LATER)
    assert [field for field, *_ in changes(engine)] == ["results_first_posted"]
