"""A trial's page shows the eligibility pre-screen for the watchlist's patient: the verdict with
its deciding criterion, the questions for the doctor in English and Chinese, and the criteria as
two lists with each read concept marked (fits / excludes / ask); hostile criteria are escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from assess.eligibility import screen
from hccwatch.web_cli import web_app
from sources.records import Record
from store.db import session_scope
from store.models import Finding
from store.upsert import upsert_record

FIXTURES = Path(__file__).parent / "fixtures" / "eligibility"
SEEN = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
XSS = '<script>alert("criteria")</script><img src=x onerror=alert(1)>'
WATCHLIST = """
[[topics]]
id = "hcc"
terms = ["hepatocellular carcinoma", "HCC"]

[patient]
label = "the patient"
diagnosis = "hcc"
hbv = "treated"
prior_treatments = [{ kind = "tace", date = "2021-07" }, { kind = "tace", date = "2021-08" }]
progressed_after = ["tace"]
no_prior = ["systemic"]
"""


@pytest.fixture
def watchlist_text() -> str:
    return WATCHLIST


def trial(nct: str, criteria: str, **details) -> Record:
    return Record(source="ctgov", kind="trial", ids={"nct": nct}, title=f"HCC trial {nct}",
                  details={"eligibility_criteria": criteria, "conditions": ["Hepatocellular Carcinoma"],
                           **details})


@pytest.fixture
def client(settings, engine):
    records = [trial("NCT06796803", (FIXTURES / "NCT06796803.txt").read_text(encoding="utf-8"),
                     minimum_age="18 Years"),
               trial("NCT09999999", f"Inclusion Criteria:\n\n* ECOG 0-1 {XSS}\n\nExclusion Criteria:\n\n"
                                    f"* Prior TACE within 4 weeks &lt;b&gt;"),
               Record(source="pubmed", kind="article", ids={"pmid": "39000001"}, title="An article")]
    with session_scope(engine) as session:
        for record in records:
            upsert_record(session, record, seen_at=SEEN)
    with TestClient(web_app(settings)) as test_client:
        yield test_client


def section(html: str) -> str:
    found = re.search(r'<section id="eligibility".*?</section>', html, re.S)
    assert found, "no eligibility section"
    return found.group(0)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_excluded_trial_quotes_the_deciding_criterion_and_marks_both_lists(client):
    html = section(client.get("/findings/NCT06796803").text)
    text = text_of(html)
    assert "likely excluded" in text and "likely not: no prior liver-directed therapy (TACE," in text
    assert "可能不符合" in text
    assert re.search(r'<blockquote class="deciding">Prior locoregional therapy \(such as TACE、TAE、HAIC、TARE\)'
                     r"</blockquote>", html)
    assert "Inclusion criteria" in text and "入选标准" in text
    assert "Exclusion criteria" in text and "排除标准" in text
    inclusion, exclusion = re.findall(r'<ol class="criteria">(.*?)</ol>', html, re.S)
    assert inclusion.count("<li>") == 10 and exclusion.count("<li>") == 7
    assert 'class="mark effect-excludes"' in exclusion       # the prior-TACE exclusion
    assert 'class="mark effect-fits"' in exclusion           # fibrolamellar / mixed: conventional HCC
    assert 'class="mark effect-ask"' in inclusion            # ECOG unknown
    assert "Minimum age: 18 Years" in text                   # the registry's field, read too


def test_unclear_trial_lists_the_questions_in_both_languages(client):
    text = text_of(section(client.get("/findings/NCT09999999").text))
    assert "unclear" in text
    assert "What is the ECOG performance status (0-4)? ECOG体能状态评分是多少（0-4）？" in text
    assert "fits: prior liver-directed therapy 符合：既往局部治疗" in text   # a 2021 TACE passes "within 4 weeks"


def test_hostile_criteria_are_escaped(client):
    html = client.get("/findings/NCT09999999").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;criteria&#34;)&lt;/script&gt;" in html


def test_articles_have_no_eligibility_section(client):
    assert 'id="eligibility"' not in client.get("/findings/pmid:39000001").text


def test_a_stored_verdict_is_shown_as_stored(settings, engine, client):
    """When the pipeline has stored the verdict (Finding.eligibility), the page shows that one."""
    with session_scope(engine) as session:
        finding = session.exec(select(Finding).where(Finding.key == "NCT09999999")).one()
        if not hasattr(finding, "eligibility"):
            pytest.skip("this store has no eligibility column yet")
    stored = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* Age 18-75"},
                    client.app.state.site.watchlist().patient, today=SEEN.date())
    with session_scope(engine) as session:
        finding = session.exec(select(Finding).where(Finding.key == "NCT09999999")).one()
        finding.eligibility = stored.to_json()
    text = text_of(section(client.get("/findings/NCT09999999").text))
    assert "Age 18-75" in text and "ECOG 0-1" not in text and "computed for this page" not in text
