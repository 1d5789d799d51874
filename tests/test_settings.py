"""Settings as the family sets them: HCCWATCH_* variables over a .env file, each value read as
its kind, and every bad value refused in one line that names the variable and what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hccwatch.settings import ConfigError, Settings, load_settings


def dotenv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_environment_overrides_the_env_file_which_overrides_the_defaults(tmp_path):
    path = dotenv(tmp_path, """
# mail settings
export HCCWATCH_SMTP_HOST=smtp.example.org
HCCWATCH_SMTP_PORT = "2525"
HCCWATCH_MAIL_FROM='watch@example.org'
HCCWATCH_MAIL_TO=a@example.org
NCBI_API_KEY=from-file
""")
    settings = load_settings({"HCCWATCH_MAIL_TO": "b@example.org", "HCCWATCH_SMTP_USER": ""},
                             dotenv=path)
    assert settings.smtp_host == "smtp.example.org" and settings.smtp_port == 2525
    assert settings.mail_from == "watch@example.org"  # quotes are not part of the value
    assert settings.mail_to == ("b@example.org",)  # the environment wins
    assert settings.ncbi_api_key == "from-file"
    assert settings.smtp_user is None  # empty means unset
    assert settings.retry_attempts == Settings().retry_attempts == 5


def test_without_an_env_file_the_defaults_hold(tmp_path):
    assert load_settings({}, dotenv=tmp_path / "missing.env") == Settings()


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("Yes", True), (" on ", True),
                                                ("true", True), ("0", False), ("no", False),
                                                ("OFF", False), ("false", False)])
def test_yes_and_no_in_their_usual_spellings(tmp_path, raw, expected):
    settings = load_settings({"HCCWATCH_SMTP_SSL": raw}, dotenv=tmp_path / "none")
    assert settings.smtp_ssl is expected


def test_lists_numbers_and_rates_are_read_as_such(tmp_path):
    settings = load_settings({"HCCWATCH_MAIL_TO": " a@example.org, ,b@example.org ,",
                              "HCCWATCH_HTTP_TIMEOUT": "2.5", "HCCWATCH_FEED_CONCURRENCY": "3",
                              "HCCWATCH_CONTACT": "me@example.org",
                              "NCBI_EMAIL": "ncbi@example.org"}, dotenv=tmp_path / "none")
    assert settings.mail_to == ("a@example.org", "b@example.org")
    assert settings.http_timeout == 2.5 and settings.feed_concurrency == 3
    assert settings.user_contact == "me@example.org"  # the contact beats the NCBI address
    assert load_settings({"NCBI_EMAIL": "n@example.org"}, dotenv=tmp_path / "none").user_contact \
        == "n@example.org"


def test_ncbi_is_asked_3_times_a_second_or_10_with_a_key_unless_told(tmp_path):
    def rate(**environ: str) -> float:
        return load_settings(environ, dotenv=tmp_path / "none").effective_ncbi_rate

    assert rate() == 3.0
    assert rate(NCBI_API_KEY="k") == 10.0
    assert rate(NCBI_API_KEY="k", HCCWATCH_NCBI_RATE="1.5") == 1.5


@pytest.mark.parametrize(("name", "value", "message"), [
    ("HCCWATCH_SMTP_STARTTLS", "maybe", "HCCWATCH_SMTP_STARTTLS: expected true or false, got 'maybe'"),
    ("HCCWATCH_SMTP_PORT", "25x", "HCCWATCH_SMTP_PORT: expected a whole number, got '25x'"),
    ("HCCWATCH_SMTP_PORT", "0", "HCCWATCH_SMTP_PORT: not a TCP port: 0"),
    ("HCCWATCH_SMTP_PORT", "65536", "HCCWATCH_SMTP_PORT: not a TCP port: 65536"),
    ("HCCWATCH_HTTP_TIMEOUT", "fast", "HCCWATCH_HTTP_TIMEOUT: expected a number, got 'fast'"),
    ("HCCWATCH_HTTP_TIMEOUT", "0", "HCCWATCH_HTTP_TIMEOUT: must be greater than zero, got 0.0"),
    ("HCCWATCH_RETRY_ATTEMPTS", "0", "HCCWATCH_RETRY_ATTEMPTS: must be greater than zero, got 0"),
    ("HCCWATCH_FEED_RATE", "-1", "HCCWATCH_FEED_RATE: must be greater than zero, got -1.0"),
    ("HCCWATCH_NCBI_RATE", "0", "HCCWATCH_NCBI_RATE: must be greater than zero, got 0.0"),
    ("HCCWATCH_CTGOV_URL", "ftp://x/api", "HCCWATCH_CTGOV_URL: expected an http(s) URL, got 'ftp://x/api'"),
    ("HCCWATCH_EUTILS_URL", "http://", "HCCWATCH_EUTILS_URL: expected an http(s) URL, got 'http://'"),
    ("HCCWATCH_EUROPEPMC_URL", "example.org", "HCCWATCH_EUROPEPMC_URL: expected an http(s) URL"),
    ("HCCWATCH_MAIL_TO", "a@example.org,family", "HCCWATCH_MAIL_TO: not an e-mail address: 'family'"),
])
def test_a_bad_value_is_refused_naming_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as error:
        load_settings({name: value}, dotenv=tmp_path / "none")
    assert str(error.value).startswith(message)


def test_the_edges_of_the_allowed_ranges_are_allowed(tmp_path):
    settings = load_settings({"HCCWATCH_SMTP_PORT": "65535", "HCCWATCH_RETRY_ATTEMPTS": "1",
                              "HCCWATCH_CTGOV_URL": "HTTPS://mirror.example/api"},
                             dotenv=tmp_path / "none")
    assert (settings.smtp_port, settings.retry_attempts) == (65535, 1)
    assert load_settings({"HCCWATCH_SMTP_PORT": "1"}, dotenv=tmp_path / "none").smtp_port == 1


def test_a_broken_env_file_line_is_named(tmp_path):
    path = dotenv(tmp_path, "HCCWATCH_SMTP_HOST=smtp.example.org\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE$"):
        load_settings({}, dotenv=path)


def test_the_command_refuses_a_bad_setting_in_one_line_with_exit_2(env):
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", "status"], capture_output=True,
                            text=True, timeout=120, env={**env, "HCCWATCH_SMTP_PORT": "smtp"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hccwatch: HCCWATCH_SMTP_PORT: expected a whole number, got 'smtp'"]


def test_the_env_file_in_the_current_folder_and_the_real_environment_are_read(tmp_path,
                                                                              monkeypatch):
    dotenv(tmp_path, "HCCWATCH_SMTP_HOST=smtp.example.org\nHCCWATCH_SMTP_PASSWORD=a=b=c\n"
                     'HCCWATCH_SMTP_USER=""\nHCCWATCH_CONTACT="Jane\nHCCWATCH_MAIL_FROM=\'x\'\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HCCWATCH_SMTP_PORT", "2525")
    settings = load_settings()
    assert settings.smtp_host == "smtp.example.org" and settings.smtp_port == 2525
    assert settings.smtp_password == "a=b=c"  # only the first '=' separates
    assert settings.smtp_user is None  # "" is empty, so unset
    assert settings.contact == '"Jane'  # an unbalanced quote is part of the value
    assert settings.mail_from == "x"


def test_plain_http_mirrors_are_allowed(tmp_path):
    settings = load_settings({"HCCWATCH_CTGOV_URL": "http://127.0.0.1:9/api"}, dotenv=tmp_path / "none")
    assert settings.ctgov_url == "http://127.0.0.1:9/api"


def test_the_data_folder_is_hccwatch_s_own():
    from hccwatch.settings import data_dir

    assert data_dir().name == "hccwatch"
    assert Settings().db == str(data_dir() / "hccwatch.sqlite3")
