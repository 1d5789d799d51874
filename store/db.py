"""The one place that opens the database: engine, SQLite pragmas (WAL, foreign keys, busy
timeout), schema creation and the FTS5 index kept in step by triggers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from store import models  # noqa: F401  (registers the tables)

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000

FTS_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS finding_fts
       USING fts5(title, title_alt, summary, tokenize='trigram')""",
    # New findings are indexed by index_for_search (one INSERT ... SELECT per batch: an
    # AFTER INSERT trigger made FTS5 work row by row, nearly 3x slower); updates and deletes
    # are kept in step here.
    "DROP TRIGGER IF EXISTS finding_fts_ai",
    """CREATE TRIGGER IF NOT EXISTS finding_fts_ad AFTER DELETE ON finding BEGIN
         DELETE FROM finding_fts WHERE rowid = old.id;
       END""",
    """CREATE TRIGGER IF NOT EXISTS finding_fts_au
       AFTER UPDATE OF title, title_alt, summary ON finding BEGIN
         DELETE FROM finding_fts WHERE rowid = old.id;
         INSERT INTO finding_fts(rowid, title, title_alt, summary)
         VALUES (new.id, new.title, coalesce(new.title_alt, ''), new.summary);
       END""",
)


# Threads of one process queue here for the write lock instead of polling SQLite's busy
# handler (which sleeps in steps of up to 100 ms); other processes still meet BEGIN IMMEDIATE.
_WRITE_LOCK = threading.RLock()


class StoreError(Exception):
    """The database cannot be opened or written (bad path, permissions, corrupt file)."""


def utcnow() -> datetime:
    """Timezone-aware UTC now: how every timestamp is stored."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """`2026-11-23T08:00:00Z` (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def database_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a filesystem path."""
    return db if "://" in db else f"sqlite:///{Path(db).expanduser()}"


def _set_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # We issue BEGIN ourselves (see _begin), so pysqlite must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB
    cursor.close()


def _begin(conn: Connection) -> None:
    """Writers take the write lock up front (BEGIN IMMEDIATE): a read-then-write transaction
    can then never fail half-way because another writer committed in between. Readers use a
    plain deferred transaction, which in WAL mode sees one consistent snapshot."""
    mode = "IMMEDIATE" if conn.get_execution_options().get("hccwatch_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _prepare_directory(url: str) -> None:
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    path = Path(url.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the database folder {path.parent}: {error.strerror}") from None


def open_engine(db: str) -> Engine:
    """Open (creating if needed) the store at `db` and bring its schema up to date."""
    url = database_url(db)
    _prepare_directory(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _set_pragmas)
        event.listen(engine, "begin", _begin)
    try:
        create_schema(engine)
    except OperationalError as error:
        engine.dispose()
        raise StoreError(f"cannot open the database {url.removeprefix('sqlite:///')}: "
                         f"{error.orig}") from None
    return engine


def create_schema(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for ddl in FTS_DDL:
            conn.execute(text(ddl))
        version = conn.execute(text("PRAGMA user_version")).scalar_one()
        if version < SCHEMA_VERSION:
            conn.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))


def index_for_search(connection: Session | Connection, finding_ids: list[int]) -> None:
    """Add newly inserted findings to the full-text index (call in the inserting transaction)."""
    for start in range(0, len(finding_ids), 500):
        chunk = finding_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        sql = ("INSERT INTO finding_fts(rowid, title, title_alt, summary) SELECT id, title, "
               f"coalesce(title_alt, ''), summary FROM finding WHERE id IN ({marks})")
        if isinstance(connection, Session):
            connection.connection().exec_driver_sql(sql, tuple(chunk))
        else:
            connection.exec_driver_sql(sql, tuple(chunk))


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session whose work commits together or not at all. `write=False` for read-only work
    (it then never waits for the write lock)."""
    with _WRITE_LOCK if write else nullcontext(), Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={"hccwatch_write": write})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
