"""The one place that opens the database: engine, SQLite pragmas (WAL, foreign keys, busy
timeout), schema creation and the two FTS5 indexes kept in step by triggers."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel, create_engine

from store import models  # noqa: F401  (registers the tables)
from store.private import create_private, private_dir
from store.vocab import aware

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000

# Two full-text indexes (FTS5 uses one tokenizer per table):
# - finding_words (unicode61: words, case and diacritics folded) holds titles and summaries.
#   Indexing a long abstract by words costs a fraction of indexing it by trigrams.
# - finding_fts (trigram: any substring of three characters or more) holds titles and only the
#   summaries written in scripts without spaces between words (Chinese, Japanese, Thai...),
#   where "words" do not exist: unicode61 would make one token of a whole clause, and even an
#   English code name inside it ("使用QL1706治疗") could not be found by words.
# New findings are indexed by index_for_search (one INSERT ... SELECT per batch: an AFTER
# INSERT trigger made FTS5 work row by row, nearly 3x slower); updates and deletes are kept in
# step by the triggers below.
UNSPACED_RANGES = (("\u0e00", "\u0eff"),  # Thai, Lao
                   ("\u3040", "\u30ff"),  # kana
                   ("\u3400", "\u4dbf"),  # CJK extension A
                   ("\u4e00", "\u9fff"),  # CJK unified ideographs
                   ("\uac00", "\ud7af"),  # Hangul
                   ("\uf900", "\ufaff"))  # CJK compatibility ideographs
_UNSPACED_CLASS = "".join(f"{low}-{high}" for low, high in UNSPACED_RANGES)
_UNSPACED_RE = re.compile(f"[{_UNSPACED_CLASS}]")
UNSPACED_GLOB = f"*[{_UNSPACED_CLASS}]*"  # the same test in SQL (GLOB compares code points)
WORDS_TOKENIZER = "unicode61 remove_diacritics 2"

_SUBSTRING_SUMMARY = f"CASE WHEN {{row}}.summary GLOB '{UNSPACED_GLOB}' THEN {{row}}.summary ELSE '' END"
FTS_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS finding_fts
       USING fts5(title, title_alt, summary, tokenize='trigram')""",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS finding_words
        USING fts5(title, title_alt, summary, tokenize='{WORDS_TOKENIZER}')""",
    "DROP TRIGGER IF EXISTS finding_fts_ai",
    "DROP TRIGGER IF EXISTS finding_fts_ad",
    "DROP TRIGGER IF EXISTS finding_fts_au",
    """CREATE TRIGGER IF NOT EXISTS finding_search_ad AFTER DELETE ON finding BEGIN
         DELETE FROM finding_fts WHERE rowid = old.id;
         DELETE FROM finding_words WHERE rowid = old.id;
       END""",
    f"""CREATE TRIGGER IF NOT EXISTS finding_search_au
        AFTER UPDATE OF title, title_alt, summary ON finding BEGIN
          DELETE FROM finding_fts WHERE rowid = old.id;
          DELETE FROM finding_words WHERE rowid = old.id;
          INSERT INTO finding_fts(rowid, title, title_alt, summary)
          VALUES (new.id, new.title, coalesce(new.title_alt, ''), {_SUBSTRING_SUMMARY.format(row="new")});
          INSERT INTO finding_words(rowid, title, title_alt, summary)
          VALUES (new.id, new.title, coalesce(new.title_alt, ''), coalesce(new.summary, ''));
        END""",
)


def unspaced(text: str | None) -> bool:
    """True when `text` has characters of a script written without spaces between words."""
    return bool(text) and _UNSPACED_RE.search(text) is not None


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
    return aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        private_dir(path.parent)
    except OSError as error:
        raise StoreError(f"cannot create the database folder {path.parent}: {error.strerror}") from None
    try:
        create_private(path)  # SQLite gives its -wal and -shm files the same mode
    except OSError as error:
        raise StoreError(f"cannot create the database {path}: {error.strerror}") from None


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
    except DatabaseError as error:  # also "file is not a database", not only OperationalError
        engine.dispose()
        raise StoreError(f"cannot open the database {url.removeprefix('sqlite:///')}: "
                         f"{error.orig}") from None
    return engine


def create_schema(engine: Engine) -> None:
    """Create what is missing; a store from an earlier version gets its search index rebuilt
    (in one write transaction, so two processes opening it at once cannot both do it)."""
    SQLModel.metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execution_options(hccwatch_write=True)
        with conn.begin():
            add_missing_columns(conn)
            version = conn.execute(text("PRAGMA user_version")).scalar_one()
            upgrade = version < SCHEMA_VERSION
            if upgrade:  # version 2 indexed whole abstracts by trigrams in finding_fts
                conn.exec_driver_sql("DROP TABLE IF EXISTS finding_fts")
                conn.exec_driver_sql("DROP TABLE IF EXISTS finding_words")
            for ddl in FTS_DDL:
                conn.execute(text(ddl))
            if upgrade:
                conn.exec_driver_sql(_WORDS_INSERT.format(where="1"))
                conn.exec_driver_sql(_SUBSTRING_INSERT.format(
                    summary=_SUBSTRING_SUMMARY.format(row="finding"), where="1"))
                conn.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))


# Columns added after a table was first released: (table, column, SQLite definition). A store
# made before gets them with the definition's default (create_all never alters a table).
ADDED_COLUMNS = (
    ("finding", "baseline", "BOOLEAN NOT NULL DEFAULT 0"),
    ("finding", "relevance", "REAL"),  # judgements (pipeline/judge.py), made on the next poll
    ("finding", "why", "JSON NOT NULL DEFAULT '[]'"),
    ("finding", "eligibility", "JSON"),
    ("finding", "eligibility_verdict", "VARCHAR"),
)
# Indexes of added columns, and indexes added to a released table (create_all makes them only
# with a new table). A search widened to a topic reads the topic's newest findings through
# ix_topicmatch_topic_finding alone (store/search.py synonym_queries).
ADDED_INDEXES = ("CREATE INDEX IF NOT EXISTS ix_finding_relevance ON finding (relevance)",
                 "CREATE INDEX IF NOT EXISTS ix_finding_eligibility_verdict ON finding (eligibility_verdict)",
                 "CREATE INDEX IF NOT EXISTS ix_topicmatch_topic_finding ON topicmatch (topic, finding_id)")


def add_missing_columns(conn: Connection) -> None:
    """ALTER TABLE ... ADD COLUMN for each of ADDED_COLUMNS an older store lacks."""
    present: dict[str, set[str]] = {}
    for table, column, definition in ADDED_COLUMNS:
        if table not in present:
            present[table] = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')}
        if column not in present[table]:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {definition}')
            present[table].add(column)
    for ddl in ADDED_INDEXES:
        conn.exec_driver_sql(ddl)


_WORDS_INSERT = ("INSERT INTO finding_words(rowid, title, title_alt, summary) SELECT id, title, "
                 "coalesce(title_alt, ''), coalesce(summary, '') FROM finding WHERE {where}")
_SUBSTRING_INSERT = ("INSERT INTO finding_fts(rowid, title, title_alt, summary) SELECT id, title, "
                     "coalesce(title_alt, ''), {summary} FROM finding WHERE {where}")


def index_for_search(connection: Session | Connection,
                     rows: Iterable[tuple[int, str | None]]) -> None:
    """Add newly inserted findings, given as (id, summary), to both full-text indexes (call in
    the inserting transaction). The summary decides, in Python where it is cheap, whether the
    summary also goes into the substring index."""
    if isinstance(connection, Session):
        connection = connection.connection()
    rows = list(rows)
    for start in range(0, len(rows), 400):
        chunk = rows[start:start + 400]
        ids = tuple(fid for fid, _ in chunk)
        substring = tuple(fid for fid, summary in chunk if unspaced(summary))
        where = f"id IN ({','.join('?' * len(ids))})"
        connection.exec_driver_sql(_WORDS_INSERT.format(where=where), ids)
        summary = f"CASE WHEN id IN ({','.join('?' * len(substring))}) THEN summary ELSE '' END"
        connection.exec_driver_sql(_SUBSTRING_INSERT.format(summary=summary, where=where),
                                   substring + ids)


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session whose work commits together or not at all. `write=False` for read-only work
    (it then never waits for the write lock)."""
    with _WRITE_LOCK if write else nullcontext(), Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={"hccwatch_write": write})
        try:
            yield session
            session.commit()
        except DatabaseError as error:
            session.rollback()
            raise unusable(error, engine) or error from None
        except BaseException:
            session.rollback()
            raise


# SQLite's words for a database file that cannot be read or written at all (as opposed to a
# query's own error, or a lock that a moment's wait cures).
_UNUSABLE = ("file is not a database", "malformed", "disk i/o error", "disk is full",
             "unable to open database", "readonly database", "out of memory")


def unusable(error: DatabaseError, engine: Engine) -> StoreError | None:
    """A one-line StoreError when `error` means the database file itself is unusable."""
    message = str(error.orig)
    if not any(words in message.lower() for words in _UNUSABLE):
        return None
    return StoreError(f"the database {engine.url.database} cannot be used: {message}")
