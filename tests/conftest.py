"""Shared test fixtures: recorded responses, a real replay server on 127.0.0.1, settings that
point every source at it, and a fresh SQLite file per test."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hccwatch.settings import Settings
from hccwatch.watchlist import load_watchlist
from replay.server import CtgovHandler, ReplayServer, studies_from_recordings
from store.db import open_engine

FIXTURES = Path(__file__).parent / "fixtures"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


CTGOV_RECORDINGS = (
    "ctgov/biomcp_search_keytruda_limit3_20260811.json",
    "ctgov/biomcp_search_melanoma_recruiting_limit3_20260811.json",
    "ctgov/biomcp_search_phelan_limit5_20260811.json",
    "ctgov/biomcp_search_phelan_next_20260811.json",
    "ctgov/aact_NCT00763412.json",
    "ctgov/aact_NCT02210780.json",
)


@pytest.fixture
def recorded_studies() -> list[dict]:
    return studies_from_recordings(fixture_bytes(p) for p in CTGOV_RECORDINGS)


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture
def ctgov(replay: ReplayServer, recorded_studies: list[dict]) -> CtgovHandler:
    handler = CtgovHandler(recorded_studies)
    replay.route("/ctgov", handler)
    return handler


WATCHLIST_TOML = """
timezone = "Asia/Shanghai"
digest_weekday = "monday"

[[topics]]
id = "immunotherapy"
label = "Pembrolizumab"
label_zh = "帕博利珠单抗"
terms = ["pembrolizumab", "Keytruda"]
terms_zh = ["帕博利珠单抗"]
ctgov = { intr = "Keytruda OR pembrolizumab" }

[[topics]]
id = "melanoma"
label = "Melanoma"
terms = ["melanoma"]
ctgov = { cond = "melanoma" }

[[topics]]
id = "phelan"
label = "Phelan-McDermid"
terms = ["Phelan-McDermid", "SHANK3"]
ctgov = { cond = "Phelan-McDermid OR SHANK3" }

[[places]]
name = "Seattle"
label_zh = "西雅图"
country = "United States"
match = ["Seattle", "Fred Hutchinson Cancer Center"]

[[places]]
name = "Shanghai"
country = "China"
match = ["Shanghai", "Zhongshan Hospital, Fudan University"]
"""


@pytest.fixture
def watchlist_text() -> str:
    """The test watchlist; a test module overrides this fixture to use its own."""
    return WATCHLIST_TOML


@pytest.fixture
def watchlist_path(tmp_path: Path, watchlist_text: str) -> Path:
    path = tmp_path / "watchlist.toml"
    path.write_text(watchlist_text, encoding="utf-8")
    return path



@pytest.fixture
def settings(tmp_path: Path, replay: ReplayServer, watchlist_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "hccwatch.sqlite3"), watchlist=str(watchlist_path),
                    ctgov_url=f"{replay.url}/ctgov", eutils_url=f"{replay.url}/eutils",
                    europepmc_url=f"{replay.url}/europepmc", outbox=str(tmp_path / "outbox"),
                    ctgov_rate=200.0, ncbi_rate=200.0, feed_rate=200.0, retry_base=0.01,
                    retry_attempts=3, http_timeout=5.0)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables, for running the real `hccwatch` command."""
    from hccwatch.settings import env_name

    environ = {k: v for k, v in os.environ.items() if not k.startswith("HCCWATCH_")}
    for field in dataclasses.fields(Settings):
        value = getattr(settings, field.name)
        if value is None or value == ():
            continue
        environ[env_name(field.name)] = ",".join(value) if isinstance(value, tuple) else str(value)
    return environ


@pytest.fixture
def watchlist(settings: Settings):
    return load_watchlist(settings.watchlist)


@pytest.fixture
def engine(settings: Settings):
    engine = open_engine(settings.db)
    yield engine
    engine.dispose()
