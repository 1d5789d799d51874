"""Immediate alerts (issue 16), end to end: polls against the replay ClinicalTrials.gov server,
alerts handed by Apprise to a real HTTP receiver on 127.0.0.1 (`json://...` posts to a route of
the same local server), the ledger in the real SQLite file. The clock is the test's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXED_NOW, travel
from pydantic import SecretStr
from sqlmodel import select

from hccwatch.app import App
from replay.server import Fault, Response
from store.db import session_scope
from store.models import Alert, AlertDelivery

TOKEN = "s3cr3tT0kenAlerts42"  # the password in the destination's URL: must never show
NCT = "NCT09990002"
HUTCH = {"facility": "Fred Hutchinson Cancer Center", "city": "Seattle", "country": "United States",
         "status": "RECRUITING",
         "contacts": [{"name": "Site Nurse", "phone": "206-555-0199", "email": "trials@fredhutch.org"}]}
BOSTON = {"facility": "Dana-Farber Cancer Institute", "city": "Boston", "country": "United States",
          "status": "NOT_YET_RECRUITING"}


def hook_url(replay, path: str = "/hook/family") -> str:
    return f"json://alerts:{TOKEN}@{replay.url.removeprefix('http://')}{path}"


def study(status: str, sites: list[dict], updated: str = "2026-11-01") -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": NCT, "briefTitle": "Pembrolizumab <b>after</b> TACE in HCC"},
        "statusModule": {"overallStatus": status, "lastUpdatePostDateStruct": {"date": updated}},
        "armsInterventionsModule": {"interventions": [{"name": "Pembrolizumab"}]},
        "contactsLocationsModule": {"locations": sites}}}


def change_trial(ctgov, status: str, sites: list[dict]) -> None:
    """The registry's next answer: the trial with a new status and sites (updated later)."""
    ctgov.studies[:] = [s for s in ctgov.studies
                        if s["protocolSection"]["identificationModule"]["nctId"] != NCT]
    ctgov.studies.append(study(status, sites, updated="2999-01-01"))


@pytest.fixture
def receiver(replay):
    """The alert destination: every post Apprise makes lands in replay.requests('/hook')."""
    replay.route("/hook", lambda request: Response(200, b"{}"))
    return replay


def posts(replay) -> list[dict]:
    return [json.loads(r.body) for r in replay.requests("/hook") if r.method == "POST"]


def alert_app(settings, watchlist, urls: str) -> App:
    return App(settings.replaced(alert_urls=SecretStr(urls)), watchlist)


def first_poll(settings, watchlist, ctgov, urls: str) -> App:
    ctgov.studies.append(study("NOT_YET_RECRUITING", [BOSTON]))
    app = alert_app(settings, watchlist, urls)
    app.poll(topics=["immunotherapy"])
    return app


def deliveries(engine) -> list[AlertDelivery]:
    with session_scope(engine, write=False) as session:
        return list(session.exec(select(AlertDelivery)))


def test_a_trial_starting_to_recruit_in_a_watched_place_alerts_once_naming_both_changes(
        clock, settings, watchlist, ctgov, receiver, engine):
    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
    assert posts(receiver) == []  # the first poll only learns what exists
    change_trial(ctgov, "RECRUITING", [BOSTON, HUTCH])
    app.poll(topics=["immunotherapy"])
    sent = posts(receiver)
    assert len(sent) == 1
    title, body = sent[0]["title"], sent[0]["message"]
    assert NCT in title and "Recruiting in a watched place" in title and "关注地点开始招募" in title
    assert "Trial status · 试验状态: Not yet recruiting · 尚未招募 → Recruiting · 招募中" in body
    assert "New site in a watched place · 关注地点新增中心: Fred Hutchinson Cancer Center, Seattle" in body
    assert "Seattle · 西雅图: Fred Hutchinson Cancer Center, Seattle (Recruiting · 招募中)" in body
    assert "Site Nurse, 206-555-0199, trials@fredhutch.org" in body
    assert f"https://clinicaltrials.gov/study/{NCT}" in body
    assert "<b>" not in body and "Pembrolizumab after TACE in HCC" in body  # upstream markup dropped
    assert [d.status for d in deliveries(engine)] == ["sent"]

    app.poll(topics=["immunotherapy"])  # a third poll: nothing new, nothing sent again
    assert len(posts(receiver)) == 1


def test_a_destination_answering_500_keeps_the_alert_pending_and_the_next_poll_sends_it_once(
        clock, settings, watchlist, ctgov, receiver, engine):
    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
    change_trial(ctgov, "RECRUITING", [HUTCH])
    receiver.inject("/hook", Fault(status=500))
    report = app.poll(topics=["immunotherapy"])
    assert report.ok  # the alert's failure is not the poll's
    assert len(receiver.requests("/hook")) == 1 and posts(receiver)  # tried once, refused
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("pending", 1, None)
    assert "500" in delivery.last_error and TOKEN not in delivery.last_error
    assert app.alerted.failed == 1 and app.alerted.waiting == 1

    app.poll(topics=["immunotherapy"])
    assert len(receiver.requests("/hook")) == 2  # sent once more, now accepted
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)
    app.poll(topics=["immunotherapy"])
    assert len(receiver.requests("/hook")) == 2


def test_each_destination_gets_each_alert_once_and_one_failing_does_not_stop_the_other(
        clock, settings, watchlist, ctgov, receiver, engine):
    urls = f"{hook_url(receiver, '/hook/one')} , {hook_url(receiver, '/hook/two')}"
    app = first_poll(settings, watchlist, ctgov, urls)
    change_trial(ctgov, "RECRUITING", [HUTCH])
    receiver.inject("/hook/one", Fault(status=503))
    app.poll(topics=["immunotherapy"])
    assert [r.path for r in receiver.requests("/hook")] == ["/hook/one", "/hook/two"]
    app.poll(topics=["immunotherapy"])
    assert [r.path for r in receiver.requests("/hook")] == ["/hook/one", "/hook/two", "/hook/one"]
    assert sorted(d.status for d in deliveries(engine)) == ["sent", "sent"]


def test_quiet_hours_hold_alerts_until_they_end(settings, watchlist, ctgov, receiver, engine):
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC) - timedelta(hours=8)  # 23:30 Shanghai
    with travel(night):
        app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
        change_trial(ctgov, "RECRUITING", [HUTCH])
        app.poll(topics=["immunotherapy"])
    assert posts(receiver) == [] and app.alerted.waiting == 1
    assert app.alerted.held_until.strftime("%Y-%m-%d %H:%M") == "2026-11-24 07:00"
    assert "held by quiet hours until 07:00" in app.alerted.line()
    with travel(night + timedelta(hours=7)):  # 06:30: still quiet
        app.poll(topics=["immunotherapy"])
    assert posts(receiver) == []
    with travel(night + timedelta(hours=7, minutes=31)):  # 07:01: the first poll after sends it
        app.poll(topics=["immunotherapy"])
    assert len(posts(receiver)) == 1 and NCT in posts(receiver)[0]["title"]


def test_alerts_are_recorded_without_destinations_and_never_sent_later_in_a_flood(
        clock, settings, watchlist, ctgov, receiver, engine):
    app = first_poll(settings, watchlist, ctgov, "")
    change_trial(ctgov, "RECRUITING", [HUTCH])
    app.poll(topics=["immunotherapy"])
    assert "no HCCWATCH_ALERT_URLS set" in app.alerted.line()
    with session_scope(engine, write=False) as session:
        assert len(session.exec(select(Alert)).all()) == 1
    later = alert_app(settings, watchlist, hook_url(receiver))
    later.poll(topics=["immunotherapy"])
    assert posts(receiver) == []  # a destination added later gets the alerts from then on


def test_kinds_left_out_of_the_watchlist_do_not_alert(clock, settings, ctgov, receiver, engine,
                                                     watchlist_path):
    from hccwatch.watchlist import load_watchlist

    watchlist_path.write_text(watchlist_path.read_text() + '\n[alerts]\nkinds = ["stopped"]\n')
    app = first_poll(settings, load_watchlist(watchlist_path), ctgov, hook_url(receiver))
    change_trial(ctgov, "RECRUITING", [HUTCH])
    app.poll(topics=["immunotherapy"])
    assert posts(receiver) == [] and app.alerted.recorded == 0


def test_a_followed_trial_stopping_or_posting_results_alerts_and_an_unfollowed_one_does_not(
        clock, settings, watchlist, ctgov, receiver, engine):
    from store.models import Digest, DigestEntry, Finding

    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
    other = study("RECRUITING", [BOSTON])
    other["protocolSection"]["identificationModule"]["nctId"] = "NCT09990003"
    ctgov.studies.append(other)
    app.poll(topics=["immunotherapy"])
    with session_scope(engine) as session:  # last week's digest carried NCT09990002 only
        finding = session.exec(select(Finding).where(Finding.key == NCT)).one()
        digest = Digest(period="2026-W47", recipient="family@example.org", subject="s", html="",
                        text="", message_id="<m@x>", created_at=FIXED_NOW - timedelta(hours=1),
                        sent_at=FIXED_NOW - timedelta(hours=1), status="sent")
        session.add(digest)
        session.flush()
        session.add(DigestEntry(digest_id=digest.id, section="trials", finding_id=finding.id))
    change_trial(ctgov, "TERMINATED", [BOSTON])
    ctgov.studies[-1]["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2026-11-20"}
    other["protocolSection"]["statusModule"].update(
        overallStatus="TERMINATED", lastUpdatePostDateStruct={"date": "2999-01-01"})
    app.poll(topics=["immunotherapy"])
    [sent] = posts(receiver)
    assert NCT in sent["title"] and "NCT09990003" not in sent["title"]
    assert "Followed trial stopped; Followed trial posted results" in sent["title"]
    assert "Trial status · 试验状态: Not yet recruiting · 尚未招募 → Terminated · 已终止" in sent["message"]
    assert "Results posted · 结果发布: 2026-11-20" in sent["message"]


@pytest.mark.parametrize(("local", "held_until"), [
    ("21:59", None), ("22:00", "11-24 07:00"), ("23:59", "11-24 07:00"),
    ("00:00", "11-23 07:00"), ("06:59", "11-23 07:00"), ("07:00", None), ("12:00", None)])
def test_quiet_hours_cross_midnight_in_the_watchlists_timezone(local, held_until):
    from alerts.quiet import QuietHours

    quiet = QuietHours.parse("22:00-07:00", "Asia/Shanghai")
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 11, 23, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    until = quiet.until(now)
    assert (until.strftime("%m-%d %H:%M") if until else None) == held_until
    assert QuietHours.parse("13:00-14:00", "UTC").until(datetime(2026, 1, 1, 13, 30, tzinfo=UTC))
    assert QuietHours.parse("07:00-07:00", "UTC").until(now) is None  # equal ends: no quiet hours


@pytest.mark.parametrize(("url", "label"), [
    (f"json://alerts:{TOKEN}@127.0.0.1:8080/hook/{TOKEN}?+X-Token={TOKEN}", "json://127.0.0.1:8080"),
    (f"wecombot://{TOKEN}", "wecombot://s…2"),
    (f"ntfy://{TOKEN}", "ntfys://s…2"),
    (f"dingtalk://{TOKEN}/", "dingtalk://s…2"),
])
def test_a_destination_is_shown_and_stored_only_masked(url, label):
    from alerts.destinations import destinations

    [destination] = destinations(url)
    assert destination.problem is None
    assert destination.label.startswith(label + " #")
    assert TOKEN not in destination.label and TOKEN not in destination.key
    error = destination.scrub(f"could not post to {url}: {TOKEN} refused (alerts:{TOKEN})")
    assert TOKEN not in error and "could not post to" in error


def test_urls_split_on_spaces_and_commas_but_not_inside_a_url():
    from alerts.destinations import split_urls

    assert split_urls(" json://a/b,ntfy://t  mailto://u:p@x.org?to=a@x.org,b@x.org ,") == [
        "json://a/b", "ntfy://t", "mailto://u:p@x.org?to=a@x.org,b@x.org"]


def test_an_older_store_gets_the_alert_tables(settings, engine):
    from sqlalchemy import inspect

    from store.db import open_engine

    with engine.begin() as conn:
        for table in ("alertdelivery", "alertchange", "alert"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()
    reopened = open_engine(settings.db)
    assert {"alert", "alertchange", "alertdelivery"} <= set(inspect(reopened).get_table_names())
    reopened.dispose()


def test_the_web_status_page_shows_alerts_per_destination_masked(
        clock, settings, watchlist, ctgov, receiver, engine):
    from fastapi.testclient import TestClient

    from hccwatch.web_cli import web_app

    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
    change_trial(ctgov, "RECRUITING", [HUTCH])
    receiver.inject("/hook", Fault(status=500))
    app.poll(topics=["immunotherapy"])
    with TestClient(web_app(settings)) as client:
        page = client.get("/status").text
    section = page[page.index('<section id="alerts">'):]
    assert "Alerts <span lang=\"zh\">即时提醒</span>" in section
    row = section[section.index("<tbody>"):section.index("</tbody>")]
    assert "json://127.0.0.1:" in row and "<td>1</td><td>0</td><td>0</td>" in row
    assert "Failed to send JSON POST notification: Internal server error., error=500." in row
    assert TOKEN not in page


def test_an_alerting_bug_never_fails_the_poll_and_its_log_line_hides_the_url(
        clock, settings, watchlist, ctgov, receiver, engine, caplog):
    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))

    def broken(now=None):
        raise RuntimeError(f"cannot reach {hook_url(receiver)}")

    app.alert = broken
    change_trial(ctgov, "RECRUITING", [HUTCH])
    with caplog.at_level("WARNING", logger="hccwatch.alerts"):
        report = app.poll(topics=["immunotherapy"])
    assert report.ok and app.alerted is None
    [line] = [r.getMessage() for r in caplog.records if r.name == "hccwatch.alerts"]
    assert line.startswith("alerts not sent this time (the next poll retries): RuntimeError: cannot reach")
    assert TOKEN not in line
    del app.alert  # the class's method again
    app.poll(topics=["immunotherapy"])  # the next poll records and sends it
    assert len(posts(receiver)) == 1


def test_a_new_trial_recruiting_in_a_watched_place_alerts_once_and_one_elsewhere_does_not(
        clock, settings, watchlist, ctgov, receiver, engine):
    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))  # the baseline
    for nct, sites in (("NCT09990004", [HUTCH]), ("NCT09990005", [BOSTON])):
        new = study("RECRUITING", sites, updated="2999-01-01")
        new["protocolSection"]["identificationModule"]["nctId"] = nct
        ctgov.studies.append(new)
    app.poll(topics=["immunotherapy"])
    [sent] = posts(receiver)
    assert "NCT09990004" in sent["title"] and "Recruiting in a watched place" in sent["title"]
    assert "• New trial · 新试验: Recruiting · 招募中" in sent["message"]
    assert "Seattle · 西雅图: Fred Hutchinson Cancer Center, Seattle (Recruiting · 招募中)" in sent["message"]
    app.poll(topics=["immunotherapy"])
    assert len(posts(receiver)) == 1


def test_a_trial_the_patient_newly_may_fit_alerts_with_the_verdict_in_both_languages(
        clock, settings, watchlist, ctgov, receiver, engine):
    """The verdict Change as pipeline/judge.py records it (its own tests make it from criteria)."""
    from store.db import utcnow
    from store.models import Change, Finding

    app = first_poll(settings, watchlist, ctgov, hook_url(receiver))
    with session_scope(engine) as session:
        finding = session.exec(select(Finding).where(Finding.key == NCT)).one()
        session.add(Change(finding_id=finding.id, field="eligibility", old="unclear", new="may_fit",
                           seen_at=utcnow(), significance="may_fit"))
    app.alert()
    [sent] = posts(receiver)
    assert "May fit the patient · 可能符合入组条件" in sent["title"]
    assert "• Eligibility · 入组资格: unclear · 不确定 → may fit · 可能符合" in sent["message"]
    app.alert()
    assert len(posts(receiver)) == 1
