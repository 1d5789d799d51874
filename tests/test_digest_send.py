"""`hccwatch digest` against a real SMTP server (aiosmtpd on 127.0.0.1): the message arrives
as proper multipart/alternative UTF-8 mail, exactly once per (period, recipient), and a refused
or dropped send leaves the period unsent and retryable."""

from __future__ import annotations

import email
import json
import re
import smtplib
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from bs4 import BeautifulSoup
from certs import self_signed
from click.testing import CliRunner
from conftest import FIXED_NOW
from sqlmodel import select
from test_digest_build import FAMILY, W47, W47_AT, paper, seed, store

from digests.deliver import Outcome, Post, make_digest, prepare, resolve_period, send_test, send_to
from digests.period import Period
from digests.send import mark_failed, smtp_reason
from hccwatch.app import App
from hccwatch.cli import cli
from store.db import session_scope
from store.errors import ConfigError
from store.models import Digest, DigestEntry
from store.vocab import minute_text

# `--period 2026-W47` names a week that has ended: the clock stands at FIXED_NOW.
pytestmark = pytest.mark.usefixtures("clock")

SENDER = "hccwatch@example.org"
PASSWORD = "s3cret-Pa55"


class Inbox:
    """An SMTP handler that keeps what it accepted and can refuse (451) or hang up on demand."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = 0
        self.drop = 0
        self.unknown: set[str] = set()  # addresses refused at RCPT TO

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.unknown:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        if self.drop:
            self.drop -= 1
            server.transport.close()
            return "250 OK"
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == b"family" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            authenticator=check_login, auth_require_tls=False)
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def mail_settings(settings, inbox):
    return settings.replaced(smtp_host="127.0.0.1", smtp_port=inbox.port,
                               smtp_starttls=False, mail_from=SENDER, mail_to=(FAMILY,))


@pytest.fixture
def seeded(engine, watchlist):
    return seed(engine, watchlist)


def digest(settings, *args: str):
    return CliRunner().invoke(cli, ["digest", "--period", "2026-W47", *args], obj=App(settings))


def utc(moment: datetime) -> datetime:
    """A time read back from SQLite (naive, in UTC) as an aware one."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ledger(engine) -> list[Digest]:
    with session_scope(engine, write=False) as session:
        return list(session.exec(select(Digest)))


def test_the_digest_arrives_as_multipart_alternative_utf8_mail(seeded, mail_settings, inbox):
    result = digest(mail_settings)
    assert result.exit_code == 0, result.output
    assert "sent 2026-W47 to family@example.org" in result.output
    [message] = inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "hccwatch 2026-W47: 3 trial updates, 4 papers, 2 news · 试验更新 3 · 论文 4 · 新闻 2"
    assert (message["From"], message["To"]) == (SENDER, FAMILY)
    assert message["Message-ID"] and message["Date"]
    assert inbox.envelopes == [(SENDER, [FAMILY])]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "王医生" in html and "王医生" in text
    hrefs = [a["href"] for a in BeautifulSoup(html, "html.parser").find_all("a")]
    assert hrefs and all(h.startswith(("https://", "http://", "tel:", "mailto:")) for h in hrefs)


def test_the_raw_message_encodes_the_chinese_subject(seeded, mail_settings, tmp_path):
    result = digest(mail_settings, "--dry-run", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    raw = (tmp_path / "digest.eml").read_bytes()
    raw.decode("ascii")  # headers and bodies are transfer-encoded, not raw UTF-8
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["Subject"] == "hccwatch 2026-W47: 3 trial updates, 4 papers, 2 news · 试验更新 3 · 论文 4 · 新闻 2"


def test_running_twice_sends_one_message(seeded, mail_settings, inbox):
    assert digest(mail_settings).exit_code == 0
    again = digest(mail_settings)
    assert again.exit_code == 0
    assert "2026-W47 was already sent to family@example.org" in again.output
    assert "nothing sent" in again.output
    assert len(inbox.messages) == 1


def test_force_resends_the_same_content(seeded, mail_settings, inbox):
    digest(mail_settings)
    assert digest(mail_settings, "--force").exit_code == 0
    first, second = inbox.messages
    assert first["Subject"] == second["Subject"]
    assert first.get_body(("html",)).get_content() == second.get_body(("html",)).get_content()
    assert first.get_body(("plain",)).get_content() == second.get_body(("plain",)).get_content()


def test_a_forced_resend_is_the_archived_mail_under_a_new_message_id(seeded, mail_settings, inbox,
                                                                    watchlist):
    """What arrived later in the week does not slip into a resend; the new Message-ID keeps
    the mail client from dropping the resend as a duplicate."""
    assert digest(mail_settings).exit_code == 0
    store(seeded, watchlist, [paper("40000099", "A late pembrolizumab paper", evidence="review")],
          at=W47_AT + timedelta(days=2))
    assert digest(mail_settings, "--force").exit_code == 0
    first, second = inbox.messages
    assert bodies(second) == bodies(first) and "A late pembrolizumab paper" not in bodies(second)[0]
    assert second["Message-ID"] != first["Message-ID"]
    assert [row.message_id for row in ledger(seeded)] == [second["Message-ID"]]


def test_a_sent_week_is_not_sent_again_by_the_flow(seeded, mail_settings, inbox, watchlist):
    """send_to as the digest flow calls it (no force): the second call sends nothing and says
    when the first went out, in the watchlist's time zone."""
    sent = post(mail_settings, seeded, watchlist)
    first = send_to(sent, W47, FAMILY)
    subject = ledger(seeded)[0].subject
    assert first == Outcome(FAMILY, "sent", f"sent 2026-W47 to {FAMILY} via SMTP 127.0.0.1:{inbox.port}: "
                                            f"{subject}", subject)
    again = send_to(sent, W47, FAMILY)
    local = minute_text(W47.local(ledger(seeded)[0].sent_at))
    assert local.startswith("2026-11-23 11:")  # FIXED_NOW in Shanghai
    assert again == Outcome(FAMILY, "already_sent",
                            f"2026-W47 was already sent to {FAMILY} on {local}; nothing sent "
                            f"(use --force to send it again)")
    assert len(inbox.messages) == 1


def test_the_scheduled_digest_sends_a_week_once(seeded, mail_settings, inbox, watchlist):
    """make_digest as `hccwatch serve` and the demo call it (no force): a second run the same
    week sends nothing."""
    sent = post(mail_settings, seeded, watchlist)
    assert [o.status for o in make_digest(sent, "2026-W47").outcomes] == ["sent"]
    assert [o.status for o in make_digest(sent, "2026-W47").outcomes] == ["already_sent"]
    assert len(inbox.messages) == 1


def test_a_sent_digest_also_leaves_its_files_where_asked(seeded, mail_settings, inbox, watchlist,
                                                         tmp_path):
    """make_digest with `out` (the demo's way): the files are what was sent."""
    report = make_digest(post(mail_settings, seeded, watchlist), "2026-W47", out=tmp_path)
    assert [o.status for o in report.outcomes] == ["sent"]
    [message] = inbox.messages
    eml = email.message_from_bytes((tmp_path / "digest.eml").read_bytes(), policy=default)
    assert (eml["To"], eml["From"], eml["Message-ID"]) == (FAMILY, SENDER, message["Message-ID"])
    assert bodies(eml) == bodies(message)
    text = (tmp_path / "digest.txt").read_text(encoding="utf-8")
    assert text.rstrip() == bodies(message)[0].replace("\r\n", "\n").rstrip()


def test_an_outbox_file_name_keeps_only_safe_characters(seeded, settings):
    chinese = settings.replaced(mail_to=("姐姐 的 邮箱@example.org",))
    assert digest(chinese).exit_code == 0
    [eml] = Path(settings.outbox).glob("*.eml")
    assert re.fullmatch(r"2026-W47__@example\.org_20261123T03\d{4}Z\.eml", eml.name)


@pytest.mark.parametrize("failure", ["refuse", "drop"])
def test_a_failed_send_marks_nothing_and_the_next_run_sends_once(seeded, mail_settings, inbox,
                                                                  failure):
    setattr(inbox, failure, 1)
    failed = digest(mail_settings)
    assert failed.exit_code == 1
    assert "failed" in failed.stderr and "nothing marked sent" in failed.stderr
    if failure == "refuse":
        assert "451" in failed.stderr
    assert [row.status for row in ledger(seeded)] == ["failed"]
    retried = digest(mail_settings)
    assert retried.exit_code == 0, retried.output
    assert len(inbox.messages) == 1
    assert [row.status for row in ledger(seeded)] == ["sent"]
    assert digest(mail_settings).exit_code == 0
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(("failure", "reason"), [
    ("refuse", "451 4.3.0 Mailbox busy, try again later"),
    ("unknown", f"{FAMILY}: 550 5.1.1 No such mailbox here"),
    ("drop", "Connection unexpectedly closed"),
])
def test_the_servers_reason_is_shown_in_one_line_and_kept(seeded, mail_settings, inbox, failure,
                                                          reason):
    if failure == "unknown":
        inbox.unknown.add(FAMILY)
    else:
        setattr(inbox, failure, 1)
    failed = digest(mail_settings)
    line = f"SMTP 127.0.0.1:{inbox.port}: {reason}"
    assert failed.stderr == (f"sending 2026-W47 to {FAMILY} failed: {line}; nothing marked sent, "
                             f"run again to retry\n")
    [row] = ledger(seeded)
    assert (row.status, row.error) == ("failed", line)


def test_a_failed_resend_leaves_the_period_sent_and_keeps_the_reason(seeded, mail_settings, inbox):
    assert digest(mail_settings).exit_code == 0
    inbox.refuse = 1
    assert digest(mail_settings, "--force").exit_code == 1
    [row] = ledger(seeded)
    assert row.status == "sent"
    assert row.error == f"SMTP 127.0.0.1:{inbox.port}: 451 4.3.0 Mailbox busy, try again later"


def test_a_very_long_refusal_is_kept_to_its_first_1000_characters(seeded, mail_settings, watchlist):
    letter = prepare(post(mail_settings, seeded, watchlist), W47, FAMILY)
    with session_scope(seeded) as session:
        mark_failed(session, letter, "5" * 999 + "xy" + "z" * 2000)
    [row] = ledger(seeded)
    assert (row.status, row.error) == ("failed", "5" * 999 + "x")


@pytest.mark.parametrize(("error", "reason"), [
    (smtplib.SMTPDataError(554, b"5.6.0 Nachricht abgelehnt \xfc"), "554 5.6.0 Nachricht abgelehnt \ufffd"),
    (smtplib.SMTPRecipientsRefused({FAMILY: (550, b"unbekannt \xfc")}), f"{FAMILY}: 550 unbekannt \ufffd"),
    (smtplib.SMTPServerDisconnected(), "SMTPServerDisconnected"),
    (ConnectionRefusedError(111, "Connection refused"), "[Errno 111] Connection refused"),
])
def test_a_refusal_reads_as_one_line_whatever_the_server_sends(error, reason):
    """A server answering in Latin-1, or an error with no text, still gives a readable line."""
    assert smtp_reason(error) == reason


def test_ssl_against_a_plain_server_fails_with_the_ssl_error(seeded, mail_settings, inbox):
    wrong = mail_settings.replaced(smtp_ssl=True)
    result = digest(wrong)
    assert result.exit_code == 1
    assert f"failed: SMTP 127.0.0.1:{inbox.port}: [SSL" in result.stderr
    assert inbox.messages == []


def test_a_server_whose_certificate_nobody_signed_gets_no_mail(seeded, mail_settings, tmp_path):
    """HCCWATCH_SMTP_SSL checks the server's certificate: a stranger in the middle with a
    certificate of its own gets neither the digest nor the password."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            ssl_context=self_signed(tmp_path), authenticator=check_login,
                            auth_require_tls=False)
    controller.start()
    try:
        stranger = mail_settings.replaced(smtp_ssl=True, smtp_port=controller.port,
                                          smtp_user="family", smtp_password=PASSWORD)
        result = digest(stranger)
    finally:
        controller.stop()
    assert result.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert handler.messages == []


@pytest.mark.parametrize("use_ssl", [True, False])
def test_a_server_that_takes_the_connection_and_never_answers_ends_the_send(
        seeded, mail_settings, watchlist, use_ssl):
    """A server that takes the connection and says nothing (no greeting, no SSL handshake):
    the send gives up after the timeout instead of hanging the weekly run."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = mail_settings.replaced(smtp_ssl=use_ssl, smtp_port=silent.getsockname()[1],
                                      http_timeout=0.5)
        outcomes = []
        worker = threading.Thread(target=lambda: outcomes.append(
            make_digest(post(mute, seeded, watchlist), "2026-W47").outcomes[0]), daemon=True)
        worker.start()
        worker.join(timeout=20)
    [outcome] = outcomes
    assert (outcome.recipient, outcome.status) == (FAMILY, "failed") and "timed out" in outcome.message


def test_an_unreachable_server_exits_1_and_marks_nothing(seeded, mail_settings):
    down = mail_settings.replaced(smtp_port=free_port())
    result = digest(down)
    assert result.exit_code == 1
    assert f"SMTP 127.0.0.1:{down.smtp_port}" in result.stderr
    assert all(row.sent_at is None for row in ledger(seeded))


def test_login_uses_the_password_but_never_prints_it(seeded, mail_settings, inbox):
    wrong = mail_settings.replaced(smtp_user="family", smtp_password="not-" + PASSWORD)
    refused = digest(wrong)
    assert refused.exit_code == 1
    assert "535" in refused.stderr and "not-" + PASSWORD not in refused.output + refused.stderr
    right = mail_settings.replaced(smtp_user="family", smtp_password=PASSWORD)
    accepted = digest(right)
    assert accepted.exit_code == 0, accepted.output
    assert PASSWORD not in accepted.output
    assert len(inbox.messages) == 1


def test_the_sent_digest_is_archived_with_what_it_carried(seeded, mail_settings, inbox):
    digest(mail_settings)
    [row] = ledger(seeded)
    assert (row.period, row.recipient, row.status) == ("2026-W47", FAMILY, "sent")
    # archived, then sent, both now (the clock stands at FIXED_NOW and ticks)
    assert FIXED_NOW <= utc(row.created_at) <= utc(row.sent_at) < FIXED_NOW + timedelta(minutes=10)
    assert row.subject == inbox.messages[0]["Subject"]
    assert "Pembrolizumab before transplant" in row.html and "Pembrolizumab before transplant" in row.text
    with session_scope(seeded, write=False) as session:
        entries = list(session.exec(select(DigestEntry).where(DigestEntry.digest_id == row.id)))
    assert {e.section for e in entries} == {"trials", "papers", "news"}
    # No digest went out for W46, so W47 carries its findings too: 3 new trials + 3 changes
    # to 2 of them, 4 new papers + 1 retraction, 3 news items.
    assert len(entries) == 14


def test_dry_run_writes_the_files_and_sends_nothing(seeded, mail_settings, inbox, tmp_path):
    out = tmp_path / "preview"
    result = digest(mail_settings, "--dry-run", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "nothing sent or marked" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["digest.eml", "digest.html", "digest.json",
                                                     "digest.txt"]
    text = (out / "digest.txt").read_text(encoding="utf-8")
    assert "Pembrolizumab with lenvatinib" in text
    summary = json.loads((out / "digest.json").read_text(encoding="utf-8"))
    assert (summary["period"], summary["recipient"]) == ("2026-W47", FAMILY)
    assert summary["subject"].startswith("hccwatch 2026-W47: 3 trial updates, 4 papers, 2 news")
    items = summary["top"] + [i for section in summary["sections"] for i in section["shown"]]
    assert [s["id"] for s in summary["sections"]] == ["trials", "papers", "news"]
    assert {i["key"] for i in items} >= {"NCT09990001", "NCT09990002", "pmid:40000001"}
    written = ", ".join(str(out / name) for name in ("digest.html", "digest.txt", "digest.eml",
                                                     "digest.json"))
    assert f"dry run: wrote {written} (nothing sent or marked)" in result.output
    eml = email.message_from_bytes((out / "digest.eml").read_bytes(), policy=default)
    assert (eml["From"], eml["To"]) == (SENDER, FAMILY) and eml["Message-ID"].endswith("@example.org>")
    assert eml["Subject"] == summary["subject"]
    raw_json = (out / "digest.json").read_text(encoding="utf-8")
    assert raw_json.startswith('{\n  "period": "2026-W47"')  # indented for reading
    assert not summary["subject"].isascii() and summary["subject"] in raw_json  # Chinese as is
    assert inbox.messages == [] and ledger(seeded) == []
    for item in items:
        assert set(item) == {"key", "kind", "title", "topic", "badges", "why", "relevance",
                             "eligibility"}
        assert item["title"] in text
    first = summary["top"][0]  # the most relevant: a new site in Seattle, now recruiting
    assert (first["key"], first["badges"]) == (
        "NCT09990001", ["New trial", "Site in a watched place", "Now recruiting"])
    assert "recruiting in Seattle" in first["why"] and first["relevance"] > 0
    assert inbox.messages == [] and ledger(seeded) == []
    assert digest(mail_settings).exit_code == 0
    assert len(inbox.messages) == 1


def test_a_dry_run_reports_the_recipient_and_subject_it_made(seeded, mail_settings, watchlist,
                                                            tmp_path):
    report = make_digest(post(mail_settings, seeded, watchlist), "2026-W47", dry_run=True,
                         out=tmp_path)
    [outcome] = report.outcomes
    assert (outcome.recipient, outcome.status) == (FAMILY, "dry_run")
    assert outcome.subject == json.loads((tmp_path / "digest.json").read_bytes())["subject"]
    assert report.ok and report.period == "2026-W47"


def test_folders_that_cannot_be_written_are_named(seeded, mail_settings, settings, tmp_path):
    """--out and HCCWATCH_OUTBOX pointing at a file: one line naming the folder; nothing sent."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    preview = digest(mail_settings, "--dry-run", "--out", str(blocker / "preview"))
    assert (preview.exit_code, preview.stderr) == (
        2, f"hccwatch: --out: cannot write to {blocker}/preview: Not a directory\n")
    outbox = settings.replaced(outbox=str(blocker / "outbox"))
    sent = digest(outbox)
    assert sent.exit_code == 1
    me = settings.mail_from
    assert re.fullmatch(rf"sending 2026-W47 to {me} failed: HCCWATCH_OUTBOX: cannot write "
                        rf"{blocker}/outbox/2026-W47_{me}_\d{{8}}T\d{{6}}Z\.eml: Not a directory; "
                        rf"nothing marked sent, run again to retry\n", sent.stderr)
    assert [row.status for row in ledger(seeded)] == ["failed"]


def test_an_empty_week_still_sends_a_short_digest(engine, mail_settings, inbox):
    result = digest(mail_settings)
    assert result.exit_code == 0, result.output
    [message] = inbox.messages
    assert "0 trial updates, 0 papers, 0 news" in message["Subject"]
    assert "Nothing new was found this week" in message.get_body(("plain",)).get_content()


def test_without_an_smtp_host_the_eml_goes_to_the_outbox_once(seeded, settings):
    outbox = Path(settings.outbox)
    assert digest(settings).exit_code == 0
    assert digest(settings).exit_code == 0
    [eml] = outbox.glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == settings.mail_from
    assert [row.status for row in ledger(seeded)] == ["sent"]


def test_each_recipient_gets_their_own_message_once(seeded, mail_settings, inbox):
    two = mail_settings.replaced(mail_to=(FAMILY, "姐姐@example.org"))
    assert digest(two).exit_code == 0
    assert digest(two).exit_code == 0
    assert sorted(m["To"] for m in inbox.messages) == sorted([FAMILY, "姐姐@example.org"])


HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120, env=env)


def test_the_real_command_sends_over_smtp(seeded, env, inbox):
    mail_env = {**env, "HCCWATCH_SMTP_HOST": "127.0.0.1", "HCCWATCH_SMTP_PORT": str(inbox.port),
                "HCCWATCH_SMTP_STARTTLS": "false", "HCCWATCH_MAIL_TO": FAMILY}
    result = hcc("digest", "--period", "2026-W47", env=mail_env)
    assert result.returncode == 0, result.stderr
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(("args", "extra", "expected"), [
    (["--period", "2026-W99"], {}, "--period"),
    (["--period", "2099-W01"], {}, "has not started yet"),
    ([], {"HCCWATCH_SMTP_HOST": "127.0.0.1"}, "HCCWATCH_MAIL_TO"),
])
def test_bad_usage_or_configuration_exits_2_with_one_line(env, args, extra, expected):
    result = hcc("digest", *args, env={**env, **extra})
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ hccwatch digest --test-to

def post(settings, engine, watchlist) -> Post:
    return Post(engine, settings, watchlist)


def bodies(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_a_test_mail_is_the_digest_the_family_will_get_marked_test(seeded, mail_settings, inbox,
                                                                  watchlist):
    """After W46 went to the family, W47's test mail shows what the family's W47 will show
    (not a first digest for the tester), to the tester only, and marks nothing."""
    sent = post(mail_settings, seeded, watchlist)
    assert make_digest(sent, "2026-W46").ok
    outcome = send_test(sent, "2026-W47", "me@example.org", now=FIXED_NOW)
    assert [row.period for row in ledger(seeded)] == ["2026-W46"]
    assert make_digest(sent, "2026-W47").ok
    _, test_mail, family_mail = inbox.messages
    assert test_mail["Subject"] == f"[test] {family_mail['Subject']}"
    assert bodies(test_mail) == bodies(family_mail)
    assert (test_mail["From"], test_mail["To"]) == (SENDER, "me@example.org")
    assert test_mail["Message-ID"].endswith("@example.org>")
    assert test_mail["Message-ID"] != family_mail["Message-ID"]
    assert FIXED_NOW <= test_mail["Date"].datetime < FIXED_NOW + timedelta(minutes=10)
    assert inbox.envelopes[1] == (SENDER, ["me@example.org"])
    family_subject = ledger(seeded)[1].subject
    assert outcome == Outcome("me@example.org", "test",
                              f"test mail of 2026-W47 sent to me@example.org via SMTP 127.0.0.1:"
                              f"{inbox.port}: [test] {family_subject} (nothing marked sent)")


def test_a_test_mail_without_a_mail_server_goes_to_the_outbox(seeded, settings, watchlist):
    outcome = send_test(post(settings, seeded, watchlist), "2026-W47", "me@example.org",
                        now=FIXED_NOW)
    [eml] = Path(settings.outbox).glob("*.eml")
    assert re.fullmatch(r"test_2026-W47_me@example\.org_20261123T03\d{4}Z\.eml", eml.name)
    parsed = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert parsed["To"] == "me@example.org" and parsed["Subject"].startswith("[test] hccwatch 2026-W47")
    assert outcome.status == "test"
    assert outcome.message.startswith(f"test mail of 2026-W47 sent to me@example.org via {eml}: ")
    assert ledger(seeded) == []


def test_a_refused_test_mail_says_why_and_marks_nothing(seeded, mail_settings, inbox, watchlist):
    inbox.refuse = 1
    outcome = send_test(post(mail_settings, seeded, watchlist), "2026-W47", "me@example.org",
                        now=FIXED_NOW)
    assert outcome == Outcome("me@example.org", "failed",
                              f"test mail of 2026-W47 to me@example.org failed: SMTP 127.0.0.1:"
                              f"{inbox.port}: 451 4.3.0 Mailbox busy, try again later")
    assert inbox.messages == [] and ledger(seeded) == []


def test_a_test_mail_needs_an_address(seeded, mail_settings, inbox, watchlist):
    with pytest.raises(ConfigError) as refused:
        send_test(post(mail_settings, seeded, watchlist), None, "me", now=FIXED_NOW)
    assert str(refused.value) == "--test-to: not an e-mail address: 'me'"
    assert inbox.messages == []


def test_a_test_mail_of_no_named_week_is_of_the_last_complete_one(seeded, mail_settings, inbox,
                                                                  watchlist):
    a_week_later = FIXED_NOW + timedelta(days=7)
    outcome = send_test(post(mail_settings, seeded, watchlist), None, "me@example.org",
                        now=a_week_later)
    assert outcome.message.startswith("test mail of 2026-W48 sent to me@example.org")
    assert inbox.messages[0]["Subject"].startswith("[test] hccwatch 2026-W48: ")
    named = send_test(post(mail_settings, seeded, watchlist), "2026-W47", "me@example.org",
                      now=a_week_later)
    assert named.message.startswith("test mail of 2026-W47 sent to me@example.org")


def test_a_dry_run_without_out_writes_into_the_current_folder(seeded, mail_settings, watchlist,
                                                              tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_digest(post(mail_settings, seeded, watchlist), "2026-W47", dry_run=True)
    assert sorted(p.name for p in tmp_path.glob("digest.*")) == [
        "digest.eml", "digest.html", "digest.json", "digest.txt"]


@pytest.mark.parametrize(("args", "expected"), [
    (["--period", "last-week"], "expected an ISO week like 2026-W47, got 'last-week'"),
    (["--period", "2099-W01"], "2099-W01 has not started yet"),
    (["--period", "2027-W53"], "2027 has no ISO week 53 (got '2027-W53')"),  # 2026 has one
])
def test_a_bad_period_is_named_in_one_line(seeded, mail_settings, args, expected):
    result = CliRunner().invoke(cli, ["digest", *args], obj=App(mail_settings))
    assert result.exit_code == 2 and expected in result.stderr


def test_a_mail_server_without_recipients_is_refused_naming_the_setting(seeded, mail_settings):
    result = digest(mail_settings.replaced(mail_to=()))
    assert (result.exit_code, result.stderr) == (
        2, "hccwatch: HCCWATCH_MAIL_TO: no recipient set (comma-separated e-mail addresses)\n")


def test_a_week_that_starts_right_now_may_be_sent(seeded, mail_settings, watchlist):
    monday = Period(2026, 48, "Asia/Shanghai").start
    assert resolve_period(post(mail_settings, seeded, watchlist), "2026-W48", monday).label == "2026-W48"


def test_preparing_a_week_leaves_what_earlier_digests_carried(seeded, mail_settings, inbox, watchlist):
    """The ledger of what each sent digest carried is what keeps a finding from being
    announced twice: preparing W47 again after a refusal replaces W47's entries (each once),
    never W46's."""
    sent = post(mail_settings, seeded, watchlist)
    assert make_digest(sent, "2026-W46").ok
    with session_scope(seeded, write=False) as session:
        w46 = len(session.exec(select(DigestEntry)).all())
    assert w46 > 0
    inbox.refuse = 1
    assert not make_digest(sent, "2026-W47").ok  # prepared, refused: retried below
    assert make_digest(sent, "2026-W47").ok
    with session_scope(seeded, write=False) as session:
        by_period = {row.period: row.id for row in session.exec(select(Digest))}
        entries = [e.digest_id for e in session.exec(select(DigestEntry))]
    assert entries.count(by_period["2026-W46"]) == w46
    assert entries.count(by_period["2026-W47"]) == len(entries) - w46 == len(set(
        (e.section, e.finding_id, e.change_id) for e in entries_of_w47(seeded, by_period["2026-W47"])))


def entries_of_w47(engine, digest_id: int) -> list[DigestEntry]:
    with session_scope(engine, write=False) as session:
        return list(session.exec(select(DigestEntry).where(DigestEntry.digest_id == digest_id)))
