"""Shared test fixtures: recorded responses, a real replay server on 127.0.0.1, settings that
point every source at it, a fresh SQLite file per test, and a controlled clock.

The clock: the `clock` fixture moves time (in the test and in every subprocess it starts) to
FIXED_NOW and lets it tick; `travel(moment)` does the same for any moment. `pytest
--clock=2027-01-01T00:30+08:00` (or HCCWATCH_TEST_CLOCK=...) runs the whole session with the
clock moved there, to show that no test depends on today's date.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import hypothesis
import pytest
import time_machine
from pydantic import SecretStr

from hccwatch.settings import Settings
from hccwatch.watchlist import load_watchlist
from replay.server import CtgovHandler, ReplayServer, studies_from_recordings
from store.db import open_engine

FIXTURES = Path(__file__).parent / "fixtures"
TIMESHIFT = Path(__file__).parent / "timeshift"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# No property test is timed: speed goals live in bench/, and a loaded machine must not fail
# an example for taking over Hypothesis's default 200 ms.
hypothesis.settings.register_profile("hccwatch", deadline=None)
hypothesis.settings.load_profile("hccwatch")
# Monday 2026-11-23 11:00 in Shanghai: ISO week 2026-W47 has just ended.
FIXED_NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _shift_subprocesses(environ, moment: datetime) -> None:
    """Subprocesses started with `environ` read a clock moved to `moment` (timeshift/)."""
    hatch = time_machine.escape_hatch
    real_now = hatch.time.time() if hatch.is_travelling() else datetime.now(UTC).timestamp()
    environ["TESTS_CLOCK_SHIFT"] = repr(moment.timestamp() - real_now)
    paths = [str(TIMESHIFT), *filter(None, environ.get("PYTHONPATH", "").split(os.pathsep))]
    environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


@contextmanager
def travel(moment: datetime) -> Iterator[time_machine.Traveller]:
    """The clock, here and in subprocesses started meanwhile, moved to `moment` and ticking."""
    saved = {name: os.environ.get(name) for name in ("TESTS_CLOCK_SHIFT", "PYTHONPATH")}
    _shift_subprocesses(os.environ, moment)
    try:
        with time_machine.travel(moment, tick=True) as traveller:
            yield traveller
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def clocked(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with the clock the test has now (inside `travel`), for a subprocess."""
    return {**environ, **{name: os.environ[name] for name in ("TESTS_CLOCK_SHIFT", "PYTHONPATH")
                          if name in os.environ}}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock", default=os.environ.get("HCCWATCH_TEST_CLOCK") or None,
                     help="run the session with the clock moved to this ISO instant, e.g. "
                          "2027-01-01T00:30+08:00 (default: $HCCWATCH_TEST_CLOCK)")


def pytest_configure(config: pytest.Config) -> None:
    moment = config.getoption("--clock")
    if moment:
        _shift_subprocesses(os.environ, datetime.fromisoformat(moment))
        time_machine.travel(datetime.fromisoformat(moment), tick=True).start()


def pytest_report_header(config: pytest.Config) -> str | None:
    moment = config.getoption("--clock")
    return f"clock moved to {moment}" if moment else None


_getaddrinfo = socket.getaddrinfo


def _local_only(host, *args, **kwargs):
    """getaddrinfo for the tests: loopback names and addresses only, never the system resolver
    for anything else (a test that needs a missing host injects its own resolver)."""
    name = host.decode() if isinstance(host, bytes) else host
    if name in (None, "", "localhost"):
        return _getaddrinfo(host, *args, **kwargs)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        raise OSError(f"test tried to resolve {name!r}: tests never leave 127.0.0.1") from None
    if not (address.is_loopback or address.is_unspecified):
        raise OSError(f"test tried to reach {name!r}: tests never leave 127.0.0.1")
    return _getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with `_local_only` as the resolver."""
    monkeypatch.setattr(socket, "getaddrinfo", _local_only)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The clock at FIXED_NOW (ticking), in the test and in the subprocesses it starts."""
    with travel(FIXED_NOW) as traveller:
        yield traveller


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
def env(settings: Settings, request: pytest.FixtureRequest) -> dict[str, str]:
    """The same settings as environment variables, for running the real `hccwatch` command
    (with the test's clock, when it uses the `clock` fixture)."""
    from hccwatch.settings import env_name

    if "clock" in request.fixturenames:
        request.getfixturevalue("clock")

    environ = {k: v for k, v in os.environ.items() if not k.startswith("HCCWATCH_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None or value == ():
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        environ[env_name(name)] = ",".join(value) if isinstance(value, tuple) else str(value)
    return environ


@pytest.fixture
def watchlist(settings: Settings):
    return load_watchlist(settings.watchlist)


@pytest.fixture(scope="session")
def blank_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the schema, made once: copying it costs a fraction of making one."""
    path = tmp_path_factory.mktemp("blank") / "hccwatch.sqlite3"
    open_engine(str(path)).dispose()
    return path


@pytest.fixture
def engine(tmp_path: Path, blank_store: Path):
    """The test's store: a real SQLite file at settings.db, without starting the replay
    server the settings point at (many store tests need neither)."""
    db = tmp_path / "hccwatch.sqlite3"
    if not db.exists():
        shutil.copy(blank_store, db)
    engine = open_engine(str(db))
    yield engine
    engine.dispose()
