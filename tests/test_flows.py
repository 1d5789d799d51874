"""The Prefect flows run for real (prefect_test_harness: one temporary Prefect server for the
module) against the replay server: transient errors retried, a bad query failing alone, the
PollRun counted; the digest sent once however often its flow runs, a refused send retried;
ad-hoc searches stored."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

import pytest
from conftest import FIXED_NOW
from sqlmodel import select
from test_digest_build import FAMILY
from test_digest_send import inbox  # noqa: F401  (a real SMTP server on 127.0.0.1)

from digests.build import Period
from replay.server import Fault
from store.db import session_scope
from store.models import Finding, PollRun, SourceState

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clock")]
THIS_WEEK = Period.containing(FIXED_NOW, "Asia/Shanghai").label


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture
def prefect_env(harness, env, monkeypatch):
    """The flows read their settings from the environment, as a deployment's runs do."""
    for name, value in env.items():
        if name.startswith("HCCWATCH_"):
            monkeypatch.setenv(name, value)


def test_poll_flow_retries_transient_errors_and_isolates_a_bad_query(prefect_env, engine, ctgov,
                                                                      replay):
    from flows.poll import poll

    # Three 503s use up the HTTP client's 3 attempts; the Prefect task then retries.
    replay.inject("/ctgov/studies", Fault(status=503), times=3)
    first = poll(sources=["ctgov"], topics=["phelan"], return_state=True)
    first_requests = len(replay.requests("/ctgov/studies"))
    replay.log.clear()
    replay.inject("/ctgov/studies", Fault(status=400, body=b"Invalid Essie expression",
                                          match={"query.intr": "Keytruda OR pembrolizumab"}))
    second = poll(sources=["ctgov"], return_state=True)

    assert first.is_completed(), first.message
    assert first.result()["ctgov"]["new"] == 10 and first_requests == 4
    assert second.is_failed() and "Invalid Essie expression" in second.message
    with session_scope(engine) as session:
        runs = session.exec(select(PollRun).order_by(PollRun.id)).all()
        states = {s.query: s for s in session.exec(select(SourceState))}
        keys = {f.key for f in session.exec(select(Finding))}
    assert [run.ok for run in runs] == [True, False]
    assert second.result(raise_on_failure=False).counts == runs[1].counts  # reports what it stored
    # Everything the second poll stored beyond the first poll's ten Phelan-McDermid trials is new.
    assert runs[1].counts["ctgov"]["errors"] == 1 and runs[1].counts["ctgov"]["new"] == len(keys) - 10
    assert "Invalid Essie expression" in runs[1].errors[0]
    # The 400 was not retried (one request for that query); the other topics were stored.
    assert len([r for r in replay.requests("/ctgov/studies") if "query.intr" in r.params]) == 1
    assert states["immunotherapy"].consecutive_failures == 1
    assert states["phelan"].last_error is None and states["melanoma"].last_error is None
    assert "NCT04114136" in keys  # a melanoma trial, stored although another query failed


def test_a_failed_poll_called_directly_raises_a_readable_error(prefect_env, ctgov, replay):
    from flows.poll import PollFailed, poll

    replay.inject("/ctgov/studies", Fault(status=400, body=b"Invalid Essie expression",
                                          match={"query.intr": "Keytruda OR pembrolizumab"}))
    with pytest.raises(PollFailed, match="^ctgov .*HTTP 400 .*Invalid Essie expression$") as error:
        poll(sources=["ctgov"])  # was: TypeError, "dict cannot be resolved into an exception"
    assert error.value.counts["ctgov"]["errors"] == 1 and error.value.counts["ctgov"]["new"] > 0


def test_digest_flow_sends_the_period_once(prefect_env, engine, ctgov, settings):
    from flows.digest import digest
    from flows.poll import poll

    poll(sources=["ctgov"], topics=["melanoma"])
    first = digest(period=THIS_WEEK, return_state=True)
    second = digest(period=THIS_WEEK, return_state=True)

    assert first.is_completed() and second.is_completed()
    assert set(first.result().values()) == {"sent"}
    assert set(second.result().values()) == {"already_sent"}
    sent = list(Path(settings.outbox).glob("*.eml"))
    assert len(sent) == 1
    text = email.message_from_bytes(sent[0].read_bytes(), policy=default).get_body(("plain",))
    # The first poll is a baseline: its melanoma trials (the newest started in 2025) were
    # already known when watching began; the first digest counts them, announcing none.
    assert "Already known when watching began" in text.get_content()
    assert "New trial" not in text.get_content()


def test_digest_flow_retries_a_refused_send_and_mails_once(prefect_env, engine, ctgov,
                                                           inbox, monkeypatch):  # noqa: F811
    import flows.digest
    from flows.poll import poll

    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(inbox.port),
                        "SMTP_STARTTLS": "false", "MAIL_TO": FAMILY}.items():
        monkeypatch.setenv(f"HCCWATCH_{name}", value)
    # The task's own retries and retry condition, without its 60 s wait between tries.
    monkeypatch.setattr(flows.digest, "deliver",
                        flows.digest.deliver.with_options(retry_delay_seconds=0))
    inbox.refuse = 1  # 451: the mail server is busy once
    poll(sources=["ctgov"], topics=["melanoma"])

    state = flows.digest.digest(period=THIS_WEEK, return_state=True)

    assert state.is_completed() and state.result() == {FAMILY: "sent"}
    assert [m["To"] for m in inbox.messages] == [FAMILY]


def test_adhoc_flow_stores_what_the_search_found(prefect_env, engine, ctgov):
    from flows.adhoc import adhoc

    result = adhoc(term="Phelan-McDermid", sources=["ctgov"])

    assert result.report.ok
    with session_scope(engine) as session:
        keys = {f.key for f in session.exec(select(Finding))}
    assert len(keys) == 10  # the recorded Phelan-McDermid studies


def test_the_poll_flow_alerts_and_the_alerts_flow_sends_what_the_quiet_hours_held(
        prefect_env, engine, ctgov, replay, monkeypatch):
    from conftest import travel
    from test_alerts import BOSTON, HUTCH, change_trial, hook_url, posts, study

    from flows.alerting import alerts
    from flows.poll import poll
    from replay.server import Response

    replay.route("/hook", lambda request: Response(200, b"{}"))
    monkeypatch.setenv("HCCWATCH_ALERT_URLS", hook_url(replay))
    ctgov.studies.append(study("NOT_YET_RECRUITING", [BOSTON]))
    assert poll(topics=["immunotherapy"], return_state=True).is_completed()
    change_trial(ctgov, "RECRUITING", [HUTCH])
    with travel(FIXED_NOW.replace(hour=15, minute=30)):  # 23:30 in Shanghai: quiet hours
        assert poll(topics=["immunotherapy"], return_state=True).is_completed()
    assert posts(replay) == []
    with travel(FIXED_NOW.replace(hour=23, minute=1)):  # 07:01 the next day in Shanghai
        state = alerts(return_state=True)
    assert state.is_completed(), state.message
    assert "0 new, 1 sent, 0 waiting" in state.message
    assert len(posts(replay)) == 1 and "NCT09990002" in posts(replay)[0]["title"]
