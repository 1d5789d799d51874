"""`hccwatch digest` against a real SMTP server (aiosmtpd on 127.0.0.1): the message arrives
as proper multipart/alternative UTF-8 mail, exactly once per (period, recipient), and a refused
or dropped send leaves the period unsent and retryable."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from bs4 import BeautifulSoup
from click.testing import CliRunner
from conftest import FIXED_NOW
from sqlmodel import select
from test_digest_build import FAMILY, seed

from hccwatch.app import App
from hccwatch.cli import cli
from store.db import session_scope
from store.models import Digest, DigestEntry

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
    assert message["Subject"].startswith("hccwatch 2026-W47: 3 trial updates, 4 papers, 2 news")
    assert "试验更新 3" in message["Subject"]
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
    assert "论文 4 · 新闻 2" in parsed["Subject"]


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
