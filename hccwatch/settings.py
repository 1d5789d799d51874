"""The one settings object, on pydantic-settings: read from the environment and an optional .env
file (python-dotenv: quotes, `export`, inline `# comments`), every name prefixed HCCWATCH_ (plus
NCBI_API_KEY and NCBI_EMAIL); the environment wins over the file. Every bad value is reported on
a line of its own naming the setting; secrets are SecretStr, so they never print."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

import platformdirs
from dotenv.parser import parse_stream
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from store.errors import ConfigError

APP = "hccwatch"
ALIASES = {"ncbi_api_key": "NCBI_API_KEY", "ncbi_email": "NCBI_EMAIL"}


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def env_name(name: str) -> str:
    """The environment variable of a setting: HCCWATCH_SMTP_PORT, NCBI_API_KEY ..."""
    return ALIASES.get(name, f"HCCWATCH_{name.upper()}")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def _alias(name: str) -> Any:
    return Field(None, validation_alias=AliasChoices(name, ALIASES[name]))


Url = Annotated[str, AfterValidator(_http_url)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]


class Settings(BaseSettings):
    """What can be set; `Settings(...)` is exactly its arguments (load_settings reads the
    environment and .env)."""

    model_config = SettingsConfigDict(env_prefix="HCCWATCH_", frozen=True, extra="ignore",
                                      env_ignore_empty=True, populate_by_name=True,
                                      hide_input_in_errors=True)

    db: str = Field(default_factory=lambda: str(data_dir() / "hccwatch.sqlite3"))
    watchlist: str = Field(default_factory=lambda: str(Path(__file__).with_name("watchlist.toml")))
    ctgov_url: Url = "https://clinicaltrials.gov/api/v2"
    eutils_url: Url = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    europepmc_url: Url = "https://www.ebi.ac.uk/europepmc/webservices/rest"
    ncbi_api_key: SecretStr | None = _alias("ncbi_api_key")
    ncbi_email: str | None = _alias("ncbi_email")
    contact: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(587, gt=0, lt=65536)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    mail_from: str = "hccwatch@localhost"
    mail_to: Annotated[tuple[str, ...], NoDecode] = ()
    outbox: str = Field(default_factory=lambda: str(data_dir() / "outbox"))
    # Immediate alerts: Apprise URLs, space- or comma-separated. They hold tokens, so they are
    # secret; one Apprise cannot read is reported by `hccwatch check`, never stops a poll.
    alert_urls: SecretStr | None = None
    # Politeness and robustness knobs (tests and mirrors turn them; users rarely need to).
    ctgov_rate: Positive = 50 / 60
    ncbi_rate: Positive | None = None
    feed_rate: Positive = 1.0
    feed_concurrency: Count = 8
    http_timeout: Positive = 30.0
    retry_attempts: Count = 5
    retry_base: float = 1.0
    backfill_days: NonNegative = 730
    # Each incremental window starts this many days before the stored watermark: sources date
    # records earlier than they become visible (time zones, indexing delays); repeats merge.
    lookback_days: NonNegative = 3

    @field_validator("mail_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        """Comma-separated addresses, each with an @."""
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        for address in value:
            if "@" not in address:
                raise ValueError(f"not an e-mail address: {address!r}")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[Any, ...]:
        return (init_settings,)

    @property
    def effective_ncbi_rate(self) -> float:
        """NCBI allows 3 requests/s, or 10/s with an API key."""
        if self.ncbi_rate:
            return self.ncbi_rate
        return 10.0 if self.ncbi_api_key else 3.0

    @property
    def user_contact(self) -> str | None:
        return self.contact or self.ncbi_email

    def replaced(self, **changes: Any) -> Settings:
        """A copy with some settings changed (and checked again)."""
        return type(self)(**{**dict(self), **changes})


class _OverDotenv(Settings):
    """Its arguments (the environment's values) over the .env file, over the defaults."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[Any, ...]:
        return (init_settings, dotenv_settings)


def load_settings(environ: Mapping[str, str] | None = None, *,
                  dotenv: Path | None = None) -> Settings:
    """Settings from the environment (`environ`, default os.environ; an empty value is unset)
    over `dotenv` (default: .env in the working folder, if there is one). Raises ConfigError
    with one line per bad value, each naming the setting."""
    env = os.environ if environ is None else environ
    given = {name: env[env_name(name)].strip() for name in Settings.model_fields
             if env.get(env_name(name), "").strip()}
    path = dotenv or Path.cwd() / ".env"
    check_dotenv(path)
    try:
        loaded = _OverDotenv(_env_file=path if path.is_file() else None, **given)
    except ValidationError as error:
        raise ConfigError("\n".join(problem(e) for e in error.errors())) from None
    return Settings(**dict(loaded))


def check_dotenv(path: Path) -> None:
    """Refuse a .env line that is not KEY=VALUE (python-dotenv would skip it silently)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                line = binding.original.line
                raise ConfigError(f"{path}:{line}: expected KEY=VALUE")


MESSAGES = {"int_parsing": "expected a whole number", "float_parsing": "expected a number",
            "bool_parsing": "expected true or false"}


def problem(error: Any) -> str:
    """One bad value as `HCCWATCH_SMTP_PORT: expected a whole number, got 'abc'`."""
    loc = str(error["loc"][0]) if error["loc"] else ""
    name = loc if loc.isupper() else env_name(loc)
    kind = error["type"]
    if kind in MESSAGES:
        return f"{name}: {MESSAGES[kind]}, got {error.get('input')!r}"
    if kind == "greater_than_equal":
        return f"{name}: must not be negative, got {_number(loc, error.get('input'))}"
    if kind in ("greater_than", "less_than"):
        value = _number(loc, error.get("input"))
        if name == "HCCWATCH_SMTP_PORT":
            return f"{name}: not a TCP port: {value}"
        return f"{name}: must be greater than zero, got {value}"
    return f"{name}: {str(error['msg']).removeprefix('Value error, ')}"


def _number(field: str, raw: Any) -> Any:
    """A refused number as its setting's kind reads it (`0` for a count, `0.0` for a rate)."""
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    kind = int if int in (annotation, *get_args(annotation)) else float
    try:
        return kind(raw)
    except (TypeError, ValueError):
        return raw
