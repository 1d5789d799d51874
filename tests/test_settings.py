"""Settings as the family sets them: HCCWATCH_* variables over a .env file, each value read as
its kind, and every bad value refused in one line that names the variable and what is wrong;
README's own .env example, copied verbatim, is read as meant; secrets never print."""

from __future__ import annotations

import re
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
    assert settings.ncbi_api_key.get_secret_value() == "from-file"
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
    ("HCCWATCH_EUROPEPMC_URL", "example.org",
     "HCCWATCH_EUROPEPMC_URL: expected an http(s) URL, got 'example.org'"),
    ("HCCWATCH_MAIL_TO", "a@example.org,family", "HCCWATCH_MAIL_TO: not an e-mail address: 'family'"),
    ("HCCWATCH_BACKFILL_DAYS", "-1", "HCCWATCH_BACKFILL_DAYS: must not be negative, got -1"),
    ("HCCWATCH_LOOKBACK_DAYS", "-7", "HCCWATCH_LOOKBACK_DAYS: must not be negative, got -7"),
])
def test_a_bad_value_is_refused_naming_the_variable(tmp_path, name, value, message):
    """The whole line: a count refused as `0`, not `0.0`, reads as the number the family typed."""
    with pytest.raises(ConfigError) as error:
        load_settings({name: value}, dotenv=tmp_path / "none")
    assert str(error.value) == message


def test_the_edges_of_the_allowed_ranges_are_allowed(tmp_path):
    settings = load_settings({"HCCWATCH_SMTP_PORT": "65535", "HCCWATCH_RETRY_ATTEMPTS": "1",
                              "HCCWATCH_CTGOV_URL": "HTTPS://mirror.example/api"},
                             dotenv=tmp_path / "none")
    assert (settings.smtp_port, settings.retry_attempts) == (65535, 1)
    assert load_settings({"HCCWATCH_SMTP_PORT": "1"}, dotenv=tmp_path / "none").smtp_port == 1
    no_backfill = load_settings({"HCCWATCH_BACKFILL_DAYS": "0", "HCCWATCH_LOOKBACK_DAYS": "0"},
                                dotenv=tmp_path / "none")
    assert (no_backfill.backfill_days, no_backfill.lookback_days) == (0, 0)  # zero days is allowed


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
                     'HCCWATCH_SMTP_USER=""\nHCCWATCH_MAIL_FROM=\'x\'\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HCCWATCH_SMTP_PORT", "2525")
    settings = load_settings()
    assert settings.smtp_host == "smtp.example.org" and settings.smtp_port == 2525
    assert settings.smtp_password.get_secret_value() == "a=b=c"  # only the first '=' separates
    assert settings.smtp_user is None  # "" is empty, so unset
    assert settings.mail_from == "x"


def test_plain_http_mirrors_are_allowed(tmp_path):
    settings = load_settings({"HCCWATCH_CTGOV_URL": "http://127.0.0.1:9/api"}, dotenv=tmp_path / "none")
    assert settings.ctgov_url == "http://127.0.0.1:9/api"


def test_the_data_folder_is_hccwatch_s_own():
    from hccwatch.settings import data_dir

    assert data_dir().name == "hccwatch"
    assert Settings().db == str(data_dir() / "hccwatch.sqlite3")


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_env_block() -> str:
    """The ```sh block under README's "Configure in a `.env` file" step, unindented."""
    text = README.read_text(encoding="utf-8")
    step = text.index("**Configure** in a `.env` file")
    block = re.search(r"```sh\n(.*?)\n\s*```", text[step:], re.S)
    assert block, "README lost its .env example"
    return "\n".join(line.strip() for line in block.group(1).splitlines()) + "\n"


def test_readme_env_example_copied_verbatim_is_read_as_meant(tmp_path):
    settings = load_settings({}, dotenv=dotenv(tmp_path, readme_env_block()))

    assert settings.ncbi_email == "you@example.org"
    assert settings.ncbi_api_key.get_secret_value() == "your-ncbi-api-key"
    assert settings.smtp_host == "smtp.example.org"
    assert settings.smtp_port == 587
    assert settings.smtp_user == "you@example.org"
    assert settings.smtp_password.get_secret_value() == "app-password"
    assert settings.mail_from == "you@example.org"
    assert settings.mail_to == ("parent@example.org", "sibling@example.org")
    assert settings.effective_ncbi_rate == 10.0  # the key counts


def test_a_comment_after_a_value_is_not_part_of_it(tmp_path):
    path = dotenv(tmp_path, "HCCWATCH_SMTP_PORT=587              # STARTTLS; for 465 set SSL\n"
                            "HCCWATCH_SMTP_PASSWORD=app-password # an app password\n"
                            'HCCWATCH_MAIL_FROM="watch #1@example.org"  # quoted: the # stays\n')
    settings = load_settings({}, dotenv=path)
    assert settings.smtp_port == 587
    assert settings.smtp_password.get_secret_value() == "app-password"
    assert settings.mail_from == "watch #1@example.org"


def test_every_bad_value_is_one_line_naming_the_setting(tmp_path):
    path = dotenv(tmp_path, "HCCWATCH_SMTP_PORT=abc\nHCCWATCH_CTGOV_URL=ftp://x\n"
                            "HCCWATCH_FEED_RATE=0\nHCCWATCH_MAIL_TO=family\n"
                            "HCCWATCH_SMTP_SSL=maybe\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, dotenv=path)
    assert sorted(str(caught.value).splitlines()) == [
        "HCCWATCH_CTGOV_URL: expected an http(s) URL, got 'ftp://x'",
        "HCCWATCH_FEED_RATE: must be greater than zero, got 0.0",
        "HCCWATCH_MAIL_TO: not an e-mail address: 'family'",
        "HCCWATCH_SMTP_PORT: expected a whole number, got 'abc'",
        "HCCWATCH_SMTP_SSL: expected true or false, got 'maybe'",
    ]


def test_secrets_never_print(tmp_path):
    path = dotenv(tmp_path, "HCCWATCH_SMTP_PASSWORD=s3cret-Pa55\nNCBI_API_KEY=0123456789abcdef\n")
    settings = load_settings({}, dotenv=path)
    shown = f"{settings} {settings!r} {settings.model_dump()}"
    assert "s3cret-Pa55" not in shown and "0123456789abcdef" not in shown


def test_settings_made_in_code_are_exactly_their_arguments(monkeypatch):
    monkeypatch.setenv("HCCWATCH_SMTP_PORT", "2525")
    assert Settings().smtp_port == 587
    assert Settings(smtp_port=25).replaced(smtp_host="mail.example.org").smtp_port == 25


def test_an_unbalanced_quote_is_refused_naming_its_line(tmp_path):
    path = dotenv(tmp_path, 'HCCWATCH_SMTP_HOST=smtp.example.org\nHCCWATCH_CONTACT="Jane\n')
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE$"):
        load_settings({}, dotenv=path)
