"""The one settings object: read from the environment and an optional .env file, every name
prefixed HCCWATCH_ (plus NCBI_API_KEY and NCBI_EMAIL). Bad values fail with the setting's name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from store.errors import ConfigError

APP = "hccwatch"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


@dataclass(frozen=True)
class Settings:
    db: str = field(default_factory=lambda: str(data_dir() / "hccwatch.sqlite3"))
    watchlist: str = field(default_factory=lambda: str(Path(__file__).with_name("watchlist.toml")))
    ctgov_url: str = "https://clinicaltrials.gov/api/v2"
    eutils_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    europepmc_url: str = "https://www.ebi.ac.uk/europepmc/webservices/rest"
    ncbi_api_key: str | None = None
    ncbi_email: str | None = None
    contact: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    mail_from: str = "hccwatch@localhost"
    mail_to: tuple[str, ...] = ()
    outbox: str = field(default_factory=lambda: str(data_dir() / "outbox"))
    # Politeness and robustness knobs (tests and mirrors turn them; users rarely need to).
    ctgov_rate: float = 50 / 60
    ncbi_rate: float | None = None
    feed_rate: float = 1.0
    feed_concurrency: int = 8
    http_timeout: float = 30.0
    retry_attempts: int = 5
    retry_base: float = 1.0
    backfill_days: int = 730
    # Each incremental window starts this many days before the stored watermark: sources date
    # records earlier than they become visible (time zones, indexing delays); repeats merge.
    lookback_days: int = 3

    @property
    def effective_ncbi_rate(self) -> float:
        """NCBI allows 3 requests/s, or 10/s with an API key."""
        if self.ncbi_rate:
            return self.ncbi_rate
        return 10.0 if self.ncbi_api_key else 3.0

    @property
    def user_contact(self) -> str | None:
        return self.contact or self.ncbi_email


ENV_NAMES = {
    "ncbi_api_key": "NCBI_API_KEY",
    "ncbi_email": "NCBI_EMAIL",
}
URL_SETTINGS = ("ctgov_url", "eutils_url", "europepmc_url")
POSITIVE = ("ctgov_rate", "ncbi_rate", "feed_rate", "feed_concurrency", "http_timeout",
            "retry_attempts")


def env_name(name: str) -> str:
    return ENV_NAMES.get(name, f"HCCWATCH_{name.upper()}")


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; '#' comments; optional quotes. Missing file: nothing."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None, *,
                  dotenv: Path | None = None) -> Settings:
    """Settings from .env (if present) overlaid by the real environment."""
    env = dict(read_dotenv(dotenv or Path.cwd() / ".env"))
    env.update(os.environ if environ is None else environ)
    values = {}
    for spec in fields(Settings):
        raw = env.get(env_name(spec.name))
        if raw is None or raw == "":
            continue
        values[spec.name] = _convert(spec.name, raw, str(spec.type))
    settings = Settings(**values)
    _validate(settings)
    return settings


def _convert(name: str, raw: str, kind: str) -> object:
    label = env_name(name)
    if "bool" in kind:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{label}: expected true or false, got {raw!r}")
    if "int" in kind:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{label}: expected a whole number, got {raw!r}") from None
    if "float" in kind:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{label}: expected a number, got {raw!r}") from None
    if "tuple" in kind:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _validate(settings: Settings) -> None:
    for name in URL_SETTINGS:
        parts = urlsplit(getattr(settings, name))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{env_name(name)}: expected an http(s) URL, got {getattr(settings, name)!r}")
    for name in POSITIVE:
        value = getattr(settings, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{env_name(name)}: must be greater than zero, got {value}")
    for name in ("backfill_days", "lookback_days"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{env_name(name)}: must not be negative, got {getattr(settings, name)}")
    if not 0 < settings.smtp_port < 65536:
        raise ConfigError(f"HCCWATCH_SMTP_PORT: not a TCP port: {settings.smtp_port}")
    for address in settings.mail_to:
        if "@" not in address:
            raise ConfigError(f"HCCWATCH_MAIL_TO: not an e-mail address: {address!r}")
