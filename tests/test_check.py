"""`hccwatch check` and `hccwatch digest --test-to`, run as the real commands: the README's .env block, copied verbatim, is read
as meant; against a real SMTP server (aiosmtpd on 127.0.0.1) a good login is accepted and
nothing is sent, a wrong password, an unreachable server and a bad value each exit 2 naming
the setting, and no password ever reaches the screen. A test mail reaches the one address and
leaves the ledger alone: the family's digest is still sent as planned."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_digest_send import (  # noqa: F401 (fixtures)
    FAMILY,
    PASSWORD,
    digest,
    free_port,
    inbox,
    ledger,
    mail_settings,
    seeded,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_env_block() -> str:
    """The ```sh block of the README's "Configure" step, as printed."""
    text = README.read_text(encoding="utf-8")
    step = text[text.index("**Configure**"):]
    block = re.search(r"```sh\n(.*?)```", step, re.S).group(1)
    return "\n".join(line.strip() for line in block.splitlines()) + "\n"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HCCWATCH_", "NCBI_"))}
    env.update(extra)
    return env


def check(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hccwatch.cli", "check", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


def test_the_readme_env_block_is_read_as_meant(tmp_path):
    (tmp_path / ".env").write_text(readme_env_block(), encoding="utf-8")
    result = check("--offline", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Settings from the environment and {tmp_path / '.env'}" in out
    assert "NCBI contact (NCBI_EMAIL): you@example.org; NCBI_API_KEY: set (10 requests a second)" in out
    assert ("Mail server: smtp.example.org port 587, STARTTLS, log in as you@example.org "
            "(password set)") in out
    assert "Sender (HCCWATCH_MAIL_FROM): you@example.org" in out
    assert "Recipients (HCCWATCH_MAIL_TO): parent@example.org, sibling@example.org" in out
    assert "Mail server check: skipped (--offline)" in out
    assert "app-password" not in out + result.stderr and "your-ncbi-api-key" not in out
    assert "All set." in out


def smtp_env(tmp_path: Path, port: int, password: str) -> dict[str, str]:
    return clean_env(HCCWATCH_DB=str(tmp_path / "db.sqlite3"), HCCWATCH_SMTP_HOST="127.0.0.1",
                     HCCWATCH_SMTP_PORT=str(port), HCCWATCH_SMTP_STARTTLS="false",
                     HCCWATCH_SMTP_USER="family", HCCWATCH_SMTP_PASSWORD=password,
                     HCCWATCH_MAIL_FROM="family@example.org", HCCWATCH_MAIL_TO="parent@example.org",
                     NCBI_EMAIL="family@example.org")


def test_login_accepted_and_nothing_sent(tmp_path, inbox):  # noqa: F811
    result = check(env=smtp_env(tmp_path, inbox.port, PASSWORD), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Mail server check: 127.0.0.1 port {inbox.port} reachable, login accepted" in result.stdout
    assert "Settings from the environment (no .env in this folder)" in result.stdout
    assert inbox.messages == [] and not (tmp_path / "db.sqlite3").exists()
    assert PASSWORD not in result.stdout + result.stderr


def test_a_wrong_password_names_the_setting(tmp_path, inbox):  # noqa: F811
    result = check(env=smtp_env(tmp_path, inbox.port, "wrong-Pa55"), cwd=tmp_path)
    assert result.returncode == 2
    assert re.search(r"PROBLEM HCCWATCH_SMTP_PASSWORD: 127\.0\.0\.1 port \d+ refused the login of "
                     r"family: 535", result.stderr), result.stderr
    assert "wrong-Pa55" not in result.stdout + result.stderr and inbox.messages == []


def test_an_unreachable_mail_server_names_the_host(tmp_path):
    result = check(env=smtp_env(tmp_path, free_port(), PASSWORD), cwd=tmp_path)
    assert result.returncode == 2
    assert "PROBLEM HCCWATCH_SMTP_HOST: cannot reach 127.0.0.1 port" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("HCCWATCH_SMTP_PORT", "587 # STARTTLS"),
                                             ("HCCWATCH_SMTP_SSL", "maybe"),
                                             ("HCCWATCH_MAIL_TO", "parent at example.org")])
def test_a_bad_value_exits_2_naming_the_setting(tmp_path, name, value):
    result = check("--offline", env=clean_env(**{name: value}), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"hccwatch: {name}: "), result.stderr


def test_missing_recipients_and_sender_are_problems(tmp_path):
    result = check("--offline", env=clean_env(HCCWATCH_SMTP_HOST="smtp.example.org"), cwd=tmp_path)
    assert result.returncode == 2
    assert "PROBLEM HCCWATCH_MAIL_TO: no recipient set" in result.stderr
    assert "PROBLEM HCCWATCH_MAIL_FROM: not set" in result.stderr
    assert "note: NCBI_EMAIL: not set" in result.stdout


def test_a_test_mail_goes_to_one_address_and_marks_nothing(seeded, mail_settings, inbox, engine):  # noqa: F811
    result = digest(mail_settings, "--test-to", "me@example.org")
    assert result.exit_code == 0, result.output
    assert "test mail of 2026-W47 sent to me@example.org" in result.output
    assert "nothing marked sent" in result.output
    [message] = inbox.messages
    assert message["To"] == "me@example.org" and message["Subject"].startswith("[test] hccwatch 2026-W47")
    assert inbox.envelopes[0][1] == ["me@example.org"]
    assert ledger(engine) == []
    real = digest(mail_settings)
    assert real.exit_code == 0 and f"sent 2026-W47 to {FAMILY}" in real.output
    assert [m["To"] for m in inbox.messages] == ["me@example.org", FAMILY]
    assert digest(mail_settings, "--test-to", "me").exit_code == 2
