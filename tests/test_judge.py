"""Judgements stored with every finding: relevance and its reasons written after each polled
batch, judged again when the watchlist's weights change, eligibility verdict changes recorded,
old stores migrated; seen through the real `hccwatch` command and the web app."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import fixture_bytes
from fastapi.testclient import TestClient
from sqlmodel import select
from test_cli import hcc

from hccwatch.web_cli import web_app
from pipeline.judge import Judges, judge_findings, rejudge_if_changed
from pipeline.tagging import Tagger
from replay.literature import EutilsHandler, articles_from_recordings
from sources.clinicaltrials import parse_page
from sources.matching import PlaceSpec
from store.db import open_engine, session_scope
from store.ingest import ingest_batch
from store.models import Change, Finding, JudgementState
from store.queries import get_finding

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
WATCHLIST = """
[[topics]]
id = "hcc"
kind = "disease"
label = "Hepatocellular carcinoma (HCC)"
label_zh = "肝细胞癌"
weight = 0.4
terms = ["hepatocellular carcinoma", "HCC"]
terms_zh = ["肝细胞癌"]
pubmed = '("Carcinoma, Hepatocellular"[Mesh] OR hepatocellular carcinoma[tiab])'

[[topics]]
id = "ql1706"
kind = "drug"
label = "Iparomlimab and tuvonralimab (QL1706)"
label_zh = "艾帕洛利托沃瑞利单抗（QL1706）"
weight = 1.5
terms = ["QL1706"]
pubmed = 'QL1706[tiab]'

[[places]]
name = "Shanghai"
label_zh = "上海"
country = "China"
match = ["Shanghai"]
"""
PAPERS = ("constructed_before_retraction.xml", "constructed_hcc_mouse_signalling.xml", "metapub_23985001.xml")
RANKED = ["pmid:99000101", "pmid:99000301", "pmid:23985001"]  # option RCT, mouse study, review


@pytest.fixture
def watchlist_text() -> str:
    return WATCHLIST


@pytest.fixture
def eutils(replay):
    handler = EutilsHandler(articles_from_recordings(
        (fixture_bytes(f"pubmed/{name}") for name in PAPERS),
        entered=datetime.now(UTC).date() - timedelta(days=2)), rate_limit=None)
    replay.route("/eutils", handler)
    return handler


def findings_json(env, *args: str) -> list[dict]:
    listed = hcc("findings", "--format", "json", *args, env=env)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_a_poll_ranks_the_option_rct_above_the_mouse_study_above_the_passing_review(env, eutils):
    polled = hcc("poll", "--source", "pubmed", env=env)
    assert polled.returncode == 0, polled.stderr
    ranked = findings_json(env, "--sort", "relevance")
    assert [item["key"] for item in ranked] == RANKED
    rct, mouse, review = ranked
    assert rct["relevance"] > mouse["relevance"] > review["relevance"] > 0
    assert rct["why"][:2] == ["QL1706 paper", "phase 3 RCT"] and rct["why_zh"][0] == "QL1706论文"
    assert mouse["why"][:2] == ["HCC paper", "preclinical (animal or cell study)"]
    assert "HCC mentioned only in passing" in review["why"]
    assert all(item["eligibility"] is None for item in ranked)  # articles are not screened

    newest_first = findings_json(env)
    assert {item["key"] for item in newest_first} == set(RANKED)
    shown = json.loads(hcc("show", "pmid:99000101", "--format", "json", env=env).stdout)
    assert shown["relevance"] == rct["relevance"] and shown["why"] == rct["why"]
    assert shown["eligibility"] is None
    table = hcc("findings", "--sort", "relevance", env=env).stdout
    assert "why: QL1706 paper · phase 3 RCT" in table
    text = hcc("show", "pmid:23985001", env=env).stdout
    assert "HCC mentioned only in passing" in text and "仅顺带提及肝细胞癌" in text


def test_changed_weights_judge_every_stored_finding_again(env, eutils, settings, watchlist_path):
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0
    before = {i["key"]: i["relevance"] for i in findings_json(env)}
    watchlist_path.write_text(WATCHLIST.replace("weight = 1.5", "weight = 0.2"), encoding="utf-8")
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0  # nothing new arrives
    after = {i["key"]: i for i in findings_json(env)}
    assert after["pmid:99000101"]["relevance"] < before["pmid:99000101"]
    assert after["pmid:99000101"]["why"][0] == "HCC paper"  # now filed under its heavier topic
    assert after["pmid:99000301"]["relevance"] == before["pmid:99000301"]


def test_unchanged_watchlist_is_not_judged_again_within_the_week(settings, engine, watchlist):
    judges = watchlist.judges()
    with session_scope(engine) as session:
        assert rejudge_if_changed(session, judges, now=NOW) == 0
        state = session.get(JudgementState, "findings")
        assert state.inputs_hash == judges.inputs_hash
    _store_trials(engine, watchlist, "week1")
    with session_scope(engine) as session:
        assert rejudge_if_changed(session, judges, now=NOW + timedelta(days=1)) == 0
        assert rejudge_if_changed(session, judges, now=NOW + timedelta(days=8)) == 3  # recency fades


# ---------------------------------------------------------------- eligibility verdicts

class CriteriaScreen:
    """A stand-in for assess.eligibility.screen (issue 14) with one fixed rule, to test the
    store glue: trials whose criteria allow Child-Pugh B may fit, the rest are unclear."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, details, *, today):
        self.seen.append(details["title"])
        verdict = "may_fit" if "Child-Pugh B" in (details.get("eligibility_criteria") or "") else "unclear"
        return _Verdict(verdict)


class _Verdict:
    def __init__(self, verdict: str):
        self.verdict = verdict

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "reasons": [], "questions": []}


def _store_trials(engine, watchlist, week: str, amend=None) -> set[int]:
    body = fixture_bytes(f"../../replay/data/ctgov/{week}/constructed_hcc_sample_studies.json")
    records = parse_page(body).records
    tagger = Tagger(watchlist)
    for record in records:
        tagger.tag(record, found_by="hcc", query="hcc")
        if amend:
            amend(record)
    with session_scope(engine) as session:
        return ingest_batch(session, records, source="ctgov", query="hcc", seen_at=NOW).touched


def test_a_verdict_change_is_recorded_and_a_newly_fitting_trial_ranks_first(settings, engine, watchlist, env):
    screen = CriteriaScreen()
    judges = Judges(relevance=watchlist.relevance_context(), screen=screen, patient="test profile")
    touched = _store_trials(engine, watchlist, "week1")
    with session_scope(engine) as session:
        assert judge_findings(session, touched, judges, now=NOW) == 3
    assert len(screen.seen) == 3
    with session_scope(engine) as session:
        trial = get_finding(session, "NCT99000001")
        assert trial.eligibility_verdict == "unclear" and trial.eligibility["verdict"] == "unclear"
        assert session.exec(select(Change).where(Change.field == "eligibility")).all() == []

    def allow_child_pugh_b(record):
        record.details["eligibility_criteria"] = "Inclusion Criteria:\n* Child-Pugh A or Child-Pugh B7"
    later = NOW + timedelta(days=3)
    touched = _store_trials(engine, watchlist, "week1", amend=allow_child_pugh_b)
    with session_scope(engine) as session:
        judge_findings(session, touched, judges, now=later)
    with session_scope(engine) as session:
        changes = session.exec(select(Change).where(Change.field == "eligibility")).all()
        assert {(c.old, c.new, c.significance) for c in changes} == {("unclear", "may_fit", "may_fit")}
        first = session.exec(select(Finding).order_by(Finding.relevance.desc())).first()
        assert first.why[0]["en"] == "changed (now may fit) on a trial the patient may fit"

    eligible = findings_json(env, "--eligible")
    assert {i["key"] for i in eligible} == {"NCT99000001", "NCT99000002", "NCT99000003"}
    assert {i["eligibility"] for i in eligible} == {"may_fit"}
    shown = json.loads(hcc("show", "NCT99000002", "--format", "json", env=env).stdout)
    assert shown["eligibility"] == {"verdict": "may_fit", "reasons": [], "questions": []}


def test_findings_eligible_lists_nothing_before_any_trial_is_screened(settings, engine, watchlist, env):
    _store_trials(engine, watchlist, "week1")
    assert findings_json(env, "--eligible") == []
    assert len(findings_json(env)) == 3


# ---------------------------------------------------------------- old stores

def test_a_store_from_before_the_judgements_is_migrated_and_judged_on_the_next_poll(
        settings, env, eutils, tmp_path):
    engine = open_engine(settings.db)
    engine.dispose()
    with sqlite3.connect(settings.db) as db:  # make it the shape from before the judgements
        for index in ("ix_finding_relevance", "ix_finding_eligibility_verdict"):
            db.execute(f"DROP INDEX {index}")
        for column in ("relevance", "why", "eligibility", "eligibility_verdict"):
            db.execute(f"ALTER TABLE finding DROP COLUMN {column}")
        db.execute("DROP TABLE judgementstate")
    assert findings_json(env) == []  # opens and migrates
    with sqlite3.connect(settings.db) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(finding)")}
        assert {"relevance", "why", "eligibility", "eligibility_verdict"} <= columns
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0
    assert [i["key"] for i in findings_json(env, "--sort", "relevance")] == RANKED


# ---------------------------------------------------------------- the web list

def test_web_list_of_a_period_is_sorted_by_relevance_and_shows_the_why_line(settings, env, eutils):
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0
    today = datetime.now(UTC).date()
    with TestClient(web_app(settings)) as client:
        period = client.get(f"/?since={today - timedelta(days=7)}&until={today}")
        assert period.status_code == 200
        html = period.text
        assert [html.index(key) for key in RANKED] == sorted(html.index(key) for key in RANKED)
        assert "Why: QL1706 paper · phase 3 RCT" in html and "QL1706论文 · III期随机对照试验" in html
        assert '<option value="relevance" selected>' in html
        by_date = client.get(f"/?since={today - timedelta(days=7)}&sort=date").text
        assert '<option value="date" selected>' in by_date
        page = client.get("/findings/pmid:23985001").text
        assert "HCC mentioned only in passing" in page


def test_digest_settings_in_the_watchlist_cap_the_digest(env, eutils, watchlist_path, tmp_path):
    watchlist_path.write_text(WATCHLIST + "\n[digest]\npapers = 1\ntop_items = 1\n", encoding="utf-8")
    eutils.articles = []
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0  # the baseline: nothing yet
    eutils.articles = articles_from_recordings((fixture_bytes(f"pubmed/{name}") for name in PAPERS),
                                               entered=datetime.now(UTC).date())
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0  # three new papers
    out = tmp_path / "out"
    made = hcc("digest", "--dry-run", "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    digest = json.loads((out / "digest.json").read_text(encoding="utf-8"))
    section = next(s for s in digest["sections"] if s["id"] == "papers")
    assert [item["key"] for item in digest["top"]] == ["pmid:99000101"]  # top_items = 1
    assert len(section["shown"]) <= 1 and len(section["shown"]) + section["more"] == 2  # papers = 1


def test_a_digest_made_without_a_poll_ranks_by_the_watchlist_as_it_is_now(
        env, eutils, watchlist_path, tmp_path):
    eutils.articles = []
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0  # the baseline: nothing yet
    eutils.articles = articles_from_recordings((fixture_bytes(f"pubmed/{name}") for name in PAPERS),
                                               entered=datetime.now(UTC).date())
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0

    def digest_relevance(out) -> dict[str, float]:
        made = hcc("digest", "--dry-run", "--out", str(out), env=env)
        assert made.returncode == 0, made.stderr
        digest = json.loads((out / "digest.json").read_text(encoding="utf-8"))
        items = digest["top"] + [i for s in digest["sections"] for i in s["shown"]]
        return {i["key"]: i["relevance"] for i in items}

    before = digest_relevance(tmp_path / "before")
    watchlist_path.write_text(WATCHLIST.replace("weight = 1.5", "weight = 0.2"), encoding="utf-8")
    after = digest_relevance(tmp_path / "after")  # no poll in between
    assert after["pmid:99000101"] < before["pmid:99000101"]


def test_a_place_added_to_the_watchlist_finds_stored_trials_there(settings, engine, watchlist):
    """Shanghai only: the Portland trial has no watched site; once Portland is watched, the
    next judging finds its site there from the stored locations and ranks it for it."""
    _store_trials(engine, watchlist, "week1")
    with session_scope(engine) as session:
        rejudge_if_changed(session, watchlist.judges(), now=NOW)
    with session_scope(engine) as session:
        before = get_finding(session, "NCT99000002")
        assert before.watched_sites == [] and before.relevance is not None
        score_before = before.relevance
    portland = PlaceSpec(name="Portland", match=("Portland",), label_zh="波特兰")
    moved = dataclasses.replace(watchlist, places=watchlist.places + (portland,))
    with session_scope(engine) as session:
        assert rejudge_if_changed(session, moved.judges(), now=NOW) == 3
    with session_scope(engine) as session:
        after = get_finding(session, "NCT99000002")
        assert [s["place"] for s in after.watched_sites] == ["Portland"]
        assert after.relevance > score_before
        assert any("Portland" in why["en"] for why in after.why)
        assert session.exec(select(Change).where(Change.finding_id == after.id)).all() == []
